/**
 * The HNSW index built after loading instead of maintained row by row: ensureSchema's
 * deferSearchIndex, Sink.buildSearchIndex / searchIndexState, and migrate deferring the index of
 * a new table to the end of the run. Both drivers, real databases.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../src/run/report.js';
import type { StoreKey, TargetSpec } from '../src/sink/types.js';
import { SHARED_STORES, TINY_MODEL, dropTable, runCli, targetArgs, withDb, type Target } from './helpers/cli.js';
import { DRIVERS, TEST_DATABASE_URL, expectMigrateError, inBatches, makeRows, quoted, uniqueTable, useHarness, vectorFor } from './helpers/db.js';

const DIMS = 8;
const ALICE: StoreKey = { userId: 'alice', collection: 'notes' };
const BOB: StoreKey = { userId: 'bob', collection: 'notes' };
const ROOT = path.join(SHARED_STORES, 'user_data');
const CASES = JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string };

/** Index names and definitions of a table, from the catalog. */
async function hnswIndexes(query: <R extends Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<R[]>, table: string): Promise<{ name: string; def: string; valid: boolean }[]> {
  return query<{ name: string; def: string; valid: boolean }>(
    `SELECT c.relname::text AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisvalid AS valid
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
      WHERE i.indrelid = to_regclass($1) AND am.amname = 'hnsw' ORDER BY 1`,
    [quoted(table)],
  );
}

for (const driver of DRIVERS) {
  describe(`search index after load (${driver})`, () => {
    const ctx = useHarness(driver);
    const indexes = (table: string) => hnswIndexes(ctx.h.query, table);

    it('deferSearchIndex leaves a new table without its HNSW index; search still answers (by scan)', async () => {
      const target: TargetSpec = { table: ctx.track(uniqueTable('sink_index')), dimensions: DIMS };
      expect(await ctx.h.sink.schema.searchIndexState(target)).toBeNull();
      await ctx.h.sink.schema.ensureSchema(target, { deferSearchIndex: true });
      expect(await indexes(target.table)).toEqual([]);
      expect(await ctx.h.sink.schema.searchIndexState(target)).toBe('missing');
      expect((await ctx.h.sink.schema.inspect(target)).searchIndex).toBe('missing');
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(makeRows('alice', 'notes', 20, DIMS), 7));
      const hits = await ctx.h.sink.reads.search(target, { userId: 'alice', embedding: makeRows('alice', 'notes', 20, DIMS)[3]!.embedding, k: 3 });
      expect(hits[0]?.sourceIndex).toBe(3);
      // Deferring again keeps the table as it is; a plain ensureSchema then creates the index.
      await ctx.h.sink.schema.ensureSchema(target, { deferSearchIndex: true });
      expect(await indexes(target.table)).toEqual([]);
      await ctx.h.sink.schema.ensureSchema(target);
      expect(await ctx.h.sink.schema.searchIndexState(target)).toBe('valid');
    });

    it('buildSearchIndex creates the same index ensureSchema would, once (idempotent)', async () => {
      const live: TargetSpec = { table: ctx.track(uniqueTable('sink_index')), dimensions: DIMS, distance: 'l2' };
      const later: TargetSpec = { table: ctx.track(uniqueTable('sink_index')), dimensions: DIMS, distance: 'l2' };
      await ctx.h.sink.schema.ensureSchema(live);
      await ctx.h.sink.schema.ensureSchema(later, { deferSearchIndex: true });
      await ctx.h.sink.loads.replaceStore(later, ALICE, inBatches(makeRows('alice', 'notes', 50, DIMS), 16));
      const first = await ctx.h.sink.schema.buildSearchIndex(later, { maintenanceWorkMem: '64MB' });
      expect(first.built).toBe(true);
      expect(first.ms).toBeGreaterThanOrEqual(0);
      expect(await ctx.h.sink.schema.searchIndexState(later)).toBe('valid');
      const [expected] = await indexes(live.table);
      const [got] = await indexes(later.table);
      expect(got?.def).toBe(expected?.def.replaceAll(live.table, later.table));
      expect(got?.def).toContain('vector_l2_ops');
      expect(await ctx.h.sink.schema.buildSearchIndex(later)).toEqual({ built: false, ms: 0 });
      expect(await ctx.h.sink.schema.buildSearchIndex(later, { concurrently: true })).toEqual({ built: false, ms: 0 });
      expect(await indexes(later.table)).toHaveLength(1);
      // A table with the index already: deferring does not remove it.
      await ctx.h.sink.schema.ensureSchema(later, { deferSearchIndex: true });
      expect(await ctx.h.sink.schema.searchIndexState(later)).toBe('valid');
    });

    it('the concurrent build works on both drivers (plain CREATE INDEX on PGlite)', async () => {
      const target: TargetSpec = { table: ctx.track(uniqueTable('sink_index')), dimensions: DIMS };
      await ctx.h.sink.schema.ensureSchema(target, { deferSearchIndex: true });
      await ctx.h.sink.loads.replaceStore(target, BOB, inBatches(makeRows('bob', 'notes', 30, DIMS), 30));
      expect((await ctx.h.sink.schema.buildSearchIndex(target, { concurrently: true })).built).toBe(true);
      expect(await indexes(target.table)).toEqual([expect.objectContaining({ valid: true })]);
    });

    it('search results are the same whether the index was live during the load or built after it', async () => {
      const live: TargetSpec = { table: ctx.track(uniqueTable('sink_index')), dimensions: DIMS };
      const later: TargetSpec = { table: ctx.track(uniqueTable('sink_index')), dimensions: DIMS };
      await ctx.h.sink.schema.ensureSchema(live);
      await ctx.h.sink.schema.ensureSchema(later, { deferSearchIndex: true });
      for (const target of [live, later]) {
        for (const key of [ALICE, BOB]) await ctx.h.sink.loads.replaceStore(target, key, inBatches(makeRows(key.userId, key.collection, 200, DIMS), 64));
      }
      await ctx.h.sink.schema.buildSearchIndex(later);
      for (let seed = 0; seed < 5; seed++) {
        const query = { userId: seed % 2 === 0 ? 'alice' : 'bob', embedding: vectorFor(9000 + seed, DIMS), k: 10 };
        const a = await ctx.h.sink.reads.search(live, query);
        const b = await ctx.h.sink.reads.search(later, query);
        expect(a).toHaveLength(10);
        expect(b.map((h) => [h.id, h.distance])).toEqual(a.map((h) => [h.id, h.distance]));
      }
    });

    it('refuses what it cannot do: no table, a bad memory size, a read-only sink; skips columns over the HNSW limit', async () => {
      const target: TargetSpec = { table: ctx.track(uniqueTable('sink_index')), dimensions: DIMS };
      await expectMigrateError(ctx.h.sink.schema.buildSearchIndex(target), 'E_SCHEMA', 'does not exist');
      await ctx.h.sink.schema.ensureSchema(target, { deferSearchIndex: true });
      for (const bad of ['lots', '512', '0MB', '512 MB', '100TB']) {
        await expectMigrateError(ctx.h.sink.schema.buildSearchIndex(target, { maintenanceWorkMem: bad }), 'E_USAGE', 'maintenance_work_mem');
      }
      const readOnly = await ctx.h.readOnlySink();
      await expectMigrateError(readOnly.schema.buildSearchIndex(target), 'E_USAGE', 'read-only');
      expect(await readOnly.schema.searchIndexState(target)).toBe('missing');
      await expectMigrateError(ctx.h.sink.schema.buildSearchIndex({ ...target, dimensions: DIMS + 1 }), 'E_DIM_MISMATCH');
      const wide: TargetSpec = { table: ctx.track(uniqueTable('sink_index')), dimensions: 2001 };
      await ctx.h.sink.schema.ensureSchema(wide, { deferSearchIndex: true });
      expect(await ctx.h.sink.schema.buildSearchIndex(wide)).toEqual({ built: false, ms: 0 });
      expect(await ctx.h.sink.schema.searchIndexState(wide)).toBe('missing');
    });

    if (driver === 'pg') {
      it('an INVALID index left by an interrupted concurrent build is dropped and rebuilt', async () => {
        for (const concurrently of [true, false]) {
          const target: TargetSpec = { table: ctx.track(uniqueTable('sink_index')), dimensions: DIMS };
          await ctx.h.sink.schema.ensureSchema(target, { deferSearchIndex: true });
          await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(makeRows('alice', 'notes', 40, DIMS), 40));
          await interruptConcurrentBuild(target.table);
          expect(await indexes(target.table)).toEqual([expect.objectContaining({ valid: false })]);
          expect(await ctx.h.sink.schema.searchIndexState(target)).toBe('invalid');
          expect((await ctx.h.sink.schema.inspect(target)).searchIndex).toBe('invalid');
          expect((await ctx.h.sink.schema.buildSearchIndex(target, { concurrently })).built).toBe(true);
          expect(await indexes(target.table)).toEqual([expect.objectContaining({ valid: true })]);
          expect(await ctx.h.sink.schema.searchIndexState(target)).toBe('valid');
        }
      });

      it('the build leaves the pooled sessions at the server default maintenance_work_mem', async () => {
        const target: TargetSpec = { table: ctx.track(uniqueTable('sink_index')), dimensions: DIMS };
        await ctx.h.sink.schema.ensureSchema(target, { deferSearchIndex: true });
        const before = await ctx.h.query<{ m: string }>('SHOW maintenance_work_mem');
        await ctx.h.sink.schema.buildSearchIndex(target, { concurrently: true, maintenanceWorkMem: '77MB' });
        // Every pooled connection (max 3) answers with the default again.
        const seen = await Promise.all([1, 2, 3].map(() => ctx.h.sink.schema.inspect(target).then(() => ctx.h.query<{ m: string }>('SHOW maintenance_work_mem'))));
        for (const s of seen) expect(s[0]?.m).toBe(before[0]?.m);
      });
    }
  });
}

/**
 * What a CREATE INDEX CONCURRENTLY cut short leaves: the index is in the catalog but INVALID. A
 * transaction holding a write lock on the table makes the build wait after registering the index;
 * its statement_timeout then cancels it.
 */
async function interruptConcurrentBuild(table: string): Promise<void> {
  const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
  const builder = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await holder.connect();
  await builder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query(`DELETE FROM ${quoted(table)} WHERE false`);
    await holder.query(`LOCK TABLE ${quoted(table)} IN ROW EXCLUSIVE MODE`);
    await builder.query("SET statement_timeout = '1500ms'");
    const name = `${table}_embedding_hnsw_idx`;
    await expect(builder.query(`CREATE INDEX CONCURRENTLY "${name}" ON ${quoted(table)} USING hnsw (embedding vector_cosine_ops)`)).rejects.toThrow(/statement timeout/);
    await holder.query('ROLLBACK');
  } finally {
    await holder.end();
    await builder.end();
  }
}

for (const driver of DRIVERS) {
  describe(`migrate builds the index once, after the loads (${driver})`, () => {
    let dir = '';
    const tables: string[] = [];
    let target: Target;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'pgvm-index-'));
      target = driver === 'pg' ? { driver: 'pg', url: TEST_DATABASE_URL } : { driver: 'pglite', dir: path.join(dir, 'db') };
    });
    afterAll(async () => {
      if (driver === 'pg') for (const t of tables) await dropTable(TEST_DATABASE_URL, t);
      await rm(dir, { recursive: true, force: true });
    });

    const migrate = async (table: string, ...extra: string[]): Promise<{ code: number | null; report: RunReport; stderr: string }> => {
      const reportPath = path.join(dir, `${table}-${Math.random().toString(36).slice(2)}.json`);
      const r = await runCli(['migrate', ROOT, ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--no-backup', '--report', reportPath, ...extra], {
        env: { ENCRYPTION_MASTER_KEY: CASES.master_key },
      });
      return { code: r.code, report: JSON.parse(await readFile(reportPath, 'utf8')) as RunReport, stderr: r.stderr };
    };
    const query = <R extends Record<string, unknown>>(sql: string, params?: unknown[]) => withDb(target, (q) => q<R>(sql, params));
    const nearest = (table: string, userId: string) =>
      withDb(target, async (q) => {
        // The index is used on pg when scans are off; PGlite answers the same query either way.
        if (driver === 'pg') await q('SET enable_seqscan = off');
        return q<{ id: string; d: number }>(
          `SELECT id::text AS id, embedding <=> (SELECT embedding FROM ${quoted(table)} WHERE user_id = $1 ORDER BY source_index LIMIT 1) AS d
             FROM ${quoted(table)} WHERE user_id = $1 ORDER BY 2, 1 LIMIT 5`,
          [userId],
        );
      });

    it('a new table is loaded without its index and indexed at the end, even when stores failed; same rows and searches as a live-index load', async () => {
      const deferred = uniqueTable('sink_index_mig');
      const live = uniqueTable('sink_index_mig');
      tables.push(deferred, live);
      const first = await migrate(deferred);
      // Some stores of this data set must fail (exit 1); the others are loaded and indexed.
      expect(first.code, first.stderr).toBe(1);
      expect(first.report.totals.failed).toBeGreaterThan(0);
      expect(first.report.totals.rowsLoaded).toBeGreaterThan(0);
      expect(first.report.searchIndex?.built).toBe(true);
      expect(await hnswIndexes(query, deferred)).toEqual([expect.objectContaining({ valid: true })]);

      // The same stores through a live index: one user first (indexing the new table), then all.
      const seeded = await migrate(live, '--users', 'grace');
      expect(seeded.report.searchIndex?.built).toBe(true);
      const rest = await migrate(live);
      expect(rest.report.searchIndex).toBeUndefined();
      const rows = (table: string) => query<{ id: string; text: string; e: string }>(`SELECT id::text AS id, text, embedding::text AS e FROM ${quoted(table)} ORDER BY id`);
      expect(await rows(deferred)).toEqual(await rows(live));
      for (const user of ['alice_example_com', 'bob', 'grace']) {
        const a = await nearest(deferred, user);
        expect(a.length).toBeGreaterThan(0);
        expect(await nearest(live, user)).toEqual(a);
      }
    });

    it('a later run that finds the index missing builds it, even when every store is unchanged', async () => {
      const table = uniqueTable('sink_index_mig');
      tables.push(table);
      await migrate(table, '--users', 'grace');
      await query(`DROP INDEX ${quoted(`${table}_embedding_hnsw_idx`)}`);
      expect(await hnswIndexes(query, table)).toEqual([]);
      const again = await migrate(table, '--users', 'grace');
      expect(again.report.totals.unchanged).toBeGreaterThan(0);
      expect(again.report.searchIndex?.built).toBe(true);
      expect(await hnswIndexes(query, table)).toEqual([expect.objectContaining({ valid: true })]);
    });
  });
}
