/**
 * `query` and `verify` without --model use the model the table's rows record (their embedding
 * fingerprint), not DEFAULTS.model, and refuse with E_MODEL naming it and its SHA-256 when the
 * model's file changed since. The CLI as built, against PostgreSQL and PGlite.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFile, cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTable, REPO, runCli, SHARED_STORES, TEST_DATABASE_URL, targetArgs, TINY_MODEL, withDb, type Target } from './helpers/cli.js';

const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const env = { ENCRYPTION_MASTER_KEY: MASTER_KEY };

describe.each(['pg', 'pglite'] as const)('the recorded model (%s)', (driver) => {
  let work: string;
  let root: string;
  let model: string;
  let sha256: string;
  let target: Target;
  const table = `recorded_${driver}_${process.pid}`;
  const kept = `recorded_keep_${driver}_${process.pid}`;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), `pvm-recorded-${driver}-`));
    root = path.join(work, 'user_data');
    await cp(path.join(SHARED_STORES, 'user_data'), root, { recursive: true });
    execFileSync('chmod', ['-R', 'u+w', root]);
    // A model directory the default (a hub id) is not: only the rows can tell the commands about it.
    model = path.join(work, 'models', 'my-model');
    await cp(TINY_MODEL, model, { recursive: true });
    sha256 = createHash('sha256').update(await readFile(path.join(model, 'onnx', 'model.onnx'))).digest('hex');
    target = driver === 'pg' ? { driver, url: TEST_DATABASE_URL } : { driver, dir: path.join(work, 'db') };
    const migrated = await runCli(['migrate', root, ...targetArgs(target), '--table', table, '--model', model, '--users', 'bob', '--no-backup'], { env });
    expect(migrated.code, migrated.stderr).toBe(0);
  });
  afterAll(async () => {
    if (target.driver === 'pg') {
      await dropTable(target.url, table);
      await dropTable(target.url, kept);
    }
    await rm(work, { recursive: true, force: true });
  });

  it('records the model and its SHA-256 in the rows', async () => {
    const rows = await withDb(target, (q) => q<{ f: string }>(`SELECT DISTINCT embedding_fingerprint AS f FROM "${table}"`));
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]!.f)).toMatchObject({ model, modelSha256: sha256 });
  });

  it('query and verify without --model use it (offline: the default hub model is not here)', async () => {
    const q = await runCli(['query', 'what is on my calendar', '--user', 'bob', ...targetArgs(target), '--table', table, '--offline', '--json']);
    expect(q.code, q.stderr).toBe(0);
    expect(JSON.stringify(q.lines)).toContain('"userId":"bob"');
    const v = await runCli(['verify', root, ...targetArgs(target), '--table', table, '--user', 'bob', '--offline'], { env });
    expect(v.code, v.stderr + v.stdout).toBe(0);
    expect(v.lines[0]).toEqual({ stores: [{ store: 'bob/personal_assistant', applicationRows: 0, expectedRows: 25, rows: 25, ok: true }], mismatches: [] });
    // A --model that is given still wins: the default, offline, cannot load.
    const named = await runCli(['query', 'hello', '--user', 'bob', ...targetArgs(target), '--table', table, '--offline', '--model', 'Xenova/all-MiniLM-L6-v2']);
    expect(named.code).not.toBe(0);
    expect(named.stderr).toContain('E_MODEL');
  });

  it('a keep-mode table: verify needs no model, query asks for the vector', async () => {
    const migrated = await runCli(['migrate', root, ...targetArgs(target), '--table', kept, '--users', 'carol_corp', '--embeddings', 'keep', '--no-backup'], { env });
    expect(migrated.code, migrated.stderr).toBe(0);
    const v = await runCli(['verify', root, ...targetArgs(target), '--table', kept, '--user', 'carol_corp', '--offline'], { env });
    expect(v.code, v.stderr + v.stdout).toBe(0);
    const q = await runCli(['query', 'hello', '--user', 'carol_corp', ...targetArgs(target), '--table', kept, '--offline']);
    expect(q.code).not.toBe(0);
    expect(q.stderr).toMatch(/E_USAGE.*--embedding-file/s);
  });

  it('refuses with E_MODEL naming the model and its SHA-256 once the file there changed', async () => {
    await copyFile(path.join(REPO, 'fixtures/models/tiny-bert-48/onnx/model.onnx'), path.join(model, 'onnx', 'model.onnx'));
    for (const args of [
      ['query', 'hello', '--user', 'bob', ...targetArgs(target), '--table', table, '--offline'],
      ['verify', root, ...targetArgs(target), '--table', table, '--user', 'bob', '--offline'],
    ]) {
      const r = await runCli(args, { env });
      expect(r.code, r.stdout).not.toBe(0);
      expect(r.stderr).toContain('E_MODEL');
      expect(r.stderr).toContain(model);
      expect(r.stderr).toContain(sha256);
    }
    // With the model gone altogether, the message still names it.
    await rm(model, { recursive: true, force: true });
    const gone = await runCli(['query', 'hello', '--user', 'bob', ...targetArgs(target), '--table', table, '--offline']);
    expect(gone.stderr).toContain('E_MODEL');
    expect(gone.stderr).toContain(sha256);
  });
});
