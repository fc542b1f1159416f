/**
 * The library as a batch job uses it: everything imported from src/index.ts, typed options,
 * events, a logger and an AbortSignal, into PGlite and into PostgreSQL, in process.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeOf, isMigrateError, migrate, type MigrateCallOptions, type RunEvent } from '../src/index.js';
import { TEST_DATABASE_URL, uniqueTable } from './helpers/db.js';
import { SHARED_STORES } from './helpers/paths.js';

const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const ROOT = path.join(SHARED_STORES, 'user_data');

/** Event types in order, a run of store-progress events shown once. */
function sequence(events: RunEvent[]): string[] {
  return events.map((e) => e.type).filter((t, i, all) => t !== 'store-progress' || all[i - 1] !== 'store-progress');
}

describe.each(['pglite', 'pg'] as const)('library migrate (%s)', (driver) => {
  let work = '';
  const tables: string[] = [];
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), `pvm-lib-${driver}-`));
  });
  afterAll(async () => {
    if (driver === 'pg' && tables.length > 0) {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      for (const t of tables) await client.query(`DROP TABLE IF EXISTS "${t}", "${t}_previous" CASCADE`);
      await client.end();
    }
    await rm(work, { recursive: true, force: true });
  });
  const options = (extra: Partial<MigrateCallOptions> = {}): MigrateCallOptions => {
    const table = uniqueTable('lib');
    tables.push(table);
    return {
      root: ROOT,
      users: ['alice_example_com'],
      embeddings: 'keep',
      masterKeys: [MASTER_KEY],
      backupDir: null,
      table,
      ...(driver === 'pg' ? { databaseUrl: TEST_DATABASE_URL } : { pgliteDir: path.join(work, 'db') }),
      ...extra,
    };
  };

  it('migrates the stores, telling onEvent every step in order and the logger each store', async () => {
    const events: RunEvent[] = [];
    const logged: string[] = [];
    const logger = { info: (m: string) => logged.push(`info ${m}`), warn: (m: string) => logged.push(`warn ${m}`), error: (m: string) => logged.push(`error ${m}`) };
    const opts = options({ onEvent: (e) => events.push(e), logger, batchSize: 5 });
    const report = await migrate(opts);
    expect(exitCodeOf(report)).toBe(0);
    expect(report.totals).toMatchObject({ stores: 2, ok: 2, failed: 0, rowsLoaded: 52 });
    expect(sequence(events)).toEqual(['validating', 'run-start', 'store-start', 'store-progress', 'store-done', 'store-start', 'store-progress', 'store-done', 'run-done']);
    expect(events.at(-1)).toEqual({ type: 'run-done', report });
    expect(logged).toEqual(['info alice_example_com/notes: ok, 12 rows loaded', 'info alice_example_com/personal_assistant: ok, 40 rows loaded']);
    // The ledger kept the run: the same options again load nothing.
    const again = await migrate(opts);
    expect(again.stores.map((s) => s.status)).toEqual(['unchanged', 'unchanged']);
  });

  it('stops after the current store when the signal is aborted, and says so', async () => {
    const controller = new AbortController();
    const report = await migrate(
      options({
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'store-start') controller.abort('job cancelled');
        },
      }),
    );
    expect(report.interrupted).toEqual({ reason: 'job cancelled', storesNotStarted: 1 });
    expect(report.stores.map((s) => [s.collection, s.status, s.error?.code ?? null])).toEqual([
      ['notes', 'ok', null],
      ['personal_assistant', 'skipped', 'E_INTERRUPTED'],
    ]);
  });
});

describe('library migrate: what throws', () => {
  const base = { root: ROOT, embeddings: 'keep' as const, backupDir: null, pgliteDir: '/nonexistent/never-created' };
  const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (isMigrateError(e) ? `${e.code}: ${e.message}` : String(e)));

  it('bad options throw a coded MigrateError before anything is opened', async () => {
    expect(await codeOf(migrate({ ...base, batchSize: 0 }))).toBe('E_USAGE: batchSize must be an integer between 1 and 4096, got 0');
    expect(await codeOf(migrate({ ...base, pcaSample: 1.5 }))).toMatch(/^E_USAGE: pcaSample must be an integer/);
    expect(await codeOf(migrate({ ...base, users: [] }))).toMatch(/^E_USAGE: users needs at least one name/);
    expect(await codeOf(migrate({ ...base, databaseUrl: 'mysql://x' }))).toMatch(/^E_USAGE: the database URL must start with postgres:\/\//);
    expect(await codeOf(migrate({ ...base, root: ' ' }))).toMatch(/^E_USAGE: the root directory/);
  });

  it('an unreachable database throws E_CONNECT', async () => {
    expect(await codeOf(migrate({ ...base, databaseUrl: 'postgres://nobody:x@127.0.0.1:1/none' }))).toMatch(/^E_CONNECT: /);
  });
});
