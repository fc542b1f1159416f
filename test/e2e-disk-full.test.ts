/**
 * A full disk under PGlite, on real small tmpfs mounts and real processes: a 20 MB one on which
 * the database cannot even be created, and one that fills while a store loads. Either way the run
 * ends within seconds with exit 2 and E_DISK_FULL naming the directory (PGlite itself would spin
 * forever after its failed write, see src/sink/diskSpace.ts), and no message says [object Object].
 */
import { execFileSync } from 'node:child_process';
import { statfsSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, TINY_MODEL, withDb } from './helpers/cli.js';
import { mountTmpfs, type Mounted } from './helpers/tmpfs.js';
import { storesDone, watchCli, type Watched } from './helpers/watchCli.js';

let work: string;
let root: string;
/** An empty PGlite database (initdb only), created once: initdb is the slow part. */
let base: string;
const mounts: Mounted[] = [];

const migrateArgs = (dir: string, ...extra: string[]) => ['migrate', root, '--pglite-dir', dir, '--model', TINY_MODEL, '--no-backup', '--json', ...extra];

function everything(run: Watched): string {
  return JSON.stringify(run.lines) + run.stderr;
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'pvm-diskfull-'));
  execFileSync('python3', [path.join(REPO, 'scripts/make_user_data.py'), '--out', path.join(work, 'src'), '--seed', '21', '--users', '3', '--max-entries', '3000']);
  root = path.join(work, 'src', 'user_data');
  base = path.join(work, 'base');
  const db = await PGlite.create(base, { extensions: { vector } });
  await db.close();
}, 600_000);

afterAll(async () => {
  for (const m of mounts) m.unmount();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('a 20 MB tmpfs', () => {
  it('the database cannot be created there: exit 2 with E_DISK_FULL naming the directory, no [object Object]', async () => {
    const mount = await mountTmpfs(path.join(work, 'tiny'), { sizeKb: 20 * 1024 });
    mounts.push(mount);
    const dir = path.join(mount.dir, 'db');
    const run = await watchCli(migrateArgs(dir), { timeoutMs: 300_000 });
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^error E_DISK_FULL: cannot open the PGlite database in ${dir}: no space left on device \\(PGlite file system: ErrnoError, errno 51, ENOSPC\\).*the disk of the PGlite directory ${dir} is full.*free space`, 'm'));
    expect(everything(run)).not.toMatch(/\[object Object\]/);
    expect(run.lines.filter((l) => l.type === 'store-start')).toEqual([]);
  }, 400_000);
});

describe('a tmpfs that fills while a store loads', () => {
  it('fails that store with E_DISK_FULL, stops the run within seconds with exit 2, commits nothing of it', async () => {
    const mount = await mountTmpfs(path.join(work, 'filling'), { sizeKb: Math.ceil(duBytes(base) / 1024) + 96 * 1024 });
    mounts.push(mount);
    const dir = path.join(mount.dir, 'db');
    await cp(base, dir, { recursive: true });
    // Leave room for the tool's reserve (two WAL segments, 32 MB) and about 4 MB more: the schema and
    // the first batches fit, the store does not.
    const ballast = path.join(mount.dir, 'ballast');
    const stats = statfsSync(mount.dir);
    const free = Number(stats.bavail) * Number(stats.bsize);
    await writeFile(ballast, Buffer.alloc(free - (32 + 4) * 1024 * 1024));

    const progressAt: number[] = [];
    const run = await watchCli(migrateArgs(dir, '--batch-size', '16'), {
      timeoutMs: 300_000,
      onLine: (line) => {
        if (line.type === 'store-progress') progressAt.push(performance.now());
      },
    });
    const exitedAt = performance.now();
    expect(run.code, run.stderr).toBe(2);
    expect(everything(run)).not.toMatch(/\[object Object\]/);
    const failed = [...storesDone(run.lines).values()].filter((s) => s.error?.code === 'E_DISK_FULL');
    expect(failed.length, JSON.stringify(run.lines.filter((l) => l.type === 'store-done'))).toBe(1);
    const victim = failed[0];
    expect(victim?.error?.message).toMatch(new RegExp(`the disk of the PGlite directory ${dir} is full: .* MB free.*free space there`));
    // It was loading: rows of that store went through before the disk ran out.
    const label = `${victim?.userId}/${victim?.collection}`;
    expect(run.lines.some((l) => l.type === 'store-progress' && `${l.userId}/${l.collection}` === label && (l.rowsDone ?? 0) > 0)).toBe(true);
    // The run stopped there: no store started after the one the full disk failed.
    const failedAt = run.lines.findIndex((l) => l.type === 'store-done' && l.store?.error?.code === 'E_DISK_FULL');
    expect(run.lines.slice(failedAt).filter((l) => l.type === 'store-start')).toEqual([]);
    expect(run.lines.some((l) => l.type === 'run-done')).toBe(false);
    expect(run.stderr).toMatch(/^error E_DISK_FULL: the run stops: .* failed: .*full/m);
    const lastProgress = progressAt.at(-1) ?? 0;
    expect(exitedAt - lastProgress, 'from the last progress line to the exit').toBeLessThan(30_000);

    // With room again, the directory opens and holds nothing of the failed store.
    await rm(ballast);
    const rows = await withDb({ driver: 'pglite', dir }, (q) =>
      q<{ n: number }>('SELECT count(*)::int AS n FROM vector_documents WHERE user_id = $1 AND collection_name = $2', [victim?.userId, victim?.collection]),
    );
    expect(rows[0]?.n).toBe(0);
  }, 400_000);
});
