/**
 * A pg.Pool the caller owns, given to the library instead of a URL (real PostgreSQL, in process
 * through src/index.ts): the run borrows its connections, never ends it, and gives every
 * connection back with the server's own settings (row_security, read-only).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeOf, migrate, openSink, type DocumentRow, type MigrateCallOptions } from '../src/index.js';
import { expectMigrateError, inBatches, makeRows, TEST_DATABASE_URL, uniqueTable, vectorFor } from './helpers/db.js';
import { SHARED_STORES } from './helpers/paths.js';

const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const ROOT = path.join(SHARED_STORES, 'user_data');
const MAX = 3;

interface Settings {
  row_security: string;
  transaction_read_only: string;
  default_transaction_read_only: string;
}

const SETTINGS_SQL = `SELECT current_setting('row_security') AS row_security, current_setting('transaction_read_only') AS transaction_read_only,
  current_setting('default_transaction_read_only') AS default_transaction_read_only`;

describe('a pg.Pool instead of a database URL', () => {
  let pool: pg.Pool;
  let work = '';
  let serverDefault: Settings;
  const tables: string[] = [];

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-pool-'));
    // No idle timeout: the connections the run used are still the pool's when they are checked.
    pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: MAX, idleTimeoutMillis: 0 });
    const fresh = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await fresh.connect();
    serverDefault = (await fresh.query<Settings>(SETTINGS_SQL)).rows[0] as Settings;
    await fresh.end();
  });
  afterAll(async () => {
    for (const t of tables) await pool.query(`DROP TABLE IF EXISTS "${t}", "${t}_previous" CASCADE`);
    await pool.end();
    await rm(work, { recursive: true, force: true });
  });

  /** Every connection of the pool at once (MAX of them: the ones the run used, and new ones if fewer). */
  async function everyConnection(): Promise<Settings[]> {
    const clients = await Promise.all(Array.from({ length: MAX }, () => pool.connect()));
    try {
      return await Promise.all(clients.map(async (c) => (await c.query<Settings>(SETTINGS_SQL)).rows[0] as Settings));
    } finally {
      for (const c of clients) c.release();
    }
  }

  const options = (extra: Partial<MigrateCallOptions> = {}): MigrateCallOptions => {
    const table = uniqueTable('pool');
    tables.push(table);
    // cwd: if the pool were ignored, the default PGlite directory would land here, not in the repository.
    return { root: ROOT, users: ['alice_example_com'], embeddings: 'keep', masterKeys: [MASTER_KEY], backupDir: null, table, cwd: work, pool, ...extra };
  };

  it('migrates over the pool, leaves it open, and gives its connections back as the server set them', async () => {
    const opts = options();
    const report = await migrate(opts);
    expect(exitCodeOf(report)).toBe(0);
    expect(report.database.driver).toBe('pg');
    expect(report.totals).toMatchObject({ stores: 2, ok: 2, rowsLoaded: 52 });
    expect(pool.ended).toBe(false);
    expect(pool.totalCount).toBeGreaterThan(0);
    expect((await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${opts.table}"`)).rows[0]?.n).toBe(52);
    expect(serverDefault).toMatchObject({ row_security: 'on', transaction_read_only: 'off' });
    expect(await everyConnection()).toEqual(Array.from({ length: MAX }, () => serverDefault));
  });

  it('a dry run over the pool writes nothing, and leaves no connection read-only', async () => {
    const opts = options({ dryRun: true });
    const report = await migrate(opts);
    expect(report.dryRun).toBe(true);
    expect(report.totals).toMatchObject({ stores: 2, failed: 0 });
    expect((await pool.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`"${opts.table}"`])).rows[0]?.t).toBeNull();
    expect(await everyConnection()).toEqual(Array.from({ length: MAX }, () => serverDefault));
  });

  it('a sink over the pool: COPY with lookups beside it, a concurrent index build, and close() leaves the pool open', async () => {
    const sink = await openSink({ pool, pgliteDir: path.join(work, 'unused') });
    const target = { table: uniqueTable('pool_sink'), dimensions: 4 };
    tables.push(target.table);
    const key = { userId: 'alice', collection: 'notes' };
    const rows: DocumentRow[] = makeRows(key.userId, key.collection, 4, 4).map((r) => {
      const text = `${r.text} v1`;
      return { ...r, text, contentSha256: createHash('sha256').update(text, 'utf8').digest('hex'), embedding: vectorFor(r.sourceIndex + 7, 4) };
    });
    try {
      await sink.schema.ensureSchema(target, { deferSearchIndex: true });
      await sink.loads.replaceStore(target, key, inBatches(rows, 2));
      const writer = await sink.loads.openStore(target, key);
      await writer.write(rows.slice(0, 2));
      // The writer's COPY holds one connection: the lookup answers from another of the pool.
      const found = await writer.lookup(
        rows.map((r) => r.contentSha256),
        { embeddingModel: 'test-model', pcaModelId: null },
      );
      expect(found.size).toBe(4);
      await writer.write(rows.slice(2));
      expect(await writer.commit()).toEqual({ rowsLoaded: 4, rowsReplaced: 4 });
      // A session outside any transaction (CREATE INDEX CONCURRENTLY) puts its settings back too.
      expect(await sink.schema.buildSearchIndex(target, { concurrently: true })).toMatchObject({ built: true });
      expect(await sink.schema.searchIndexState(target)).toBe('valid');
    } finally {
      await sink.close();
    }
    expect(pool.ended).toBe(false);
    expect(await everyConnection()).toEqual(Array.from({ length: MAX }, () => serverDefault));
  });

  it('refuses a pool with one connection, an ended pool, and a pool beside a URL', async () => {
    const single = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    await expectMigrateError(openSink({ pool: single, pgliteDir: work }), 'E_USAGE', 'max: 2 or more');
    await single.end();
    await expectMigrateError(openSink({ pool: single, pgliteDir: work }), 'E_USAGE', 'has been ended');
    await expectMigrateError(openSink({ pool, databaseUrl: TEST_DATABASE_URL, pgliteDir: work }), 'E_USAGE', 'not both');
  });
});
