/**
 * The SQL compiled into dist/ (scripts/embed-sql.mjs, run by `npm run build`): it equals sql/ byte
 * for byte, and a copy of dist/ alone, with no sql/ beside it (what a bundler leaves), still opens
 * a PGlite database and creates a table. Reads the built dist/, like the e2e tests.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO as REPO_ROOT } from './helpers/paths.js';

const run = promisify(execFile);
const DIST = path.join(REPO_ROOT, 'dist');
const SQL = path.join(REPO_ROOT, 'sql');

describe('SQL embedded in the build', () => {
  let work = '';
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-sqlbundle-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('dist/sink/sqlBundle.js holds every file of sql/, byte for byte', async () => {
    const { SQL_BUNDLE } = (await import(path.join(DIST, 'sink', 'sqlBundle.js'))) as { SQL_BUNDLE: ReadonlyMap<string, string> | null };
    expect(SQL_BUNDLE).not.toBeNull();
    const files = (await readdir(SQL, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => path.relative(SQL, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
      .sort();
    expect(files.length).toBeGreaterThan(50);
    expect([...(SQL_BUNDLE ?? new Map<string, string>()).keys()].sort()).toEqual(files);
    for (const file of files) {
      expect(Buffer.from(SQL_BUNDLE?.get(file) ?? '', 'utf8').equals(await readFile(path.join(SQL, file))), file).toBe(true);
    }
  });

  it('a copy of dist/ without sql/ opens a PGlite database, migrates it and creates a table', async () => {
    const pkg = path.join(work, 'pkg');
    await cp(DIST, path.join(pkg, 'dist'), { recursive: true });
    await writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'bundled', type: 'module' }));
    await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
    const script = path.join(pkg, 'check.mjs');
    await writeFile(
      script,
      `import { openSink } from './dist/index.js';
const sink = await openSink({ pgliteDir: ${JSON.stringify(path.join(work, 'db'))} });
try {
  await sink.schema.ensureSchema({ table: 'bundled_docs', dimensions: 3 });
  const info = await sink.schema.inspect({ table: 'bundled_docs', dimensions: 3 });
  process.stdout.write(JSON.stringify({ exists: info.tableExists, dimensions: info.tableDimensions }));
} finally {
  await sink.close();
}
`,
    );
    const { stdout } = await run(process.execPath, [script], { cwd: pkg });
    expect(JSON.parse(stdout)).toEqual({ exists: true, dimensions: 3 });
  });
});
