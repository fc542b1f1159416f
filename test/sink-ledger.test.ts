/**
 * Re-runs for support staff, database side: numbered migrations of the run ledger, the ledger's
 * semantics, rows kept for rollback, rollback itself, purge, store locks, reuse of stored
 * embeddings and verification reads. Run against PostgreSQL (pg) and PGlite alike; the lock tests
 * that need two sessions run on pg only (PGlite is one session in one process: see locks.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { previousTable, resolveTable } from '../src/sink/identifiers.js';
import { openSink } from '../src/sink/index.js';
import type { LoadRepository } from '../src/sink/loadRepository.js';
import type { DocumentRow, LoadOptions, NewPcaModel, Sink, StoreKey, StoreOutcome, TargetSpec, VectorType } from '../src/sink/types.js';
import { countByStore, DRIVERS, expectMigrateError, inBatches, makeRow, makeRows, quoted, referenceFloat16, TEST_DATABASE_URL, uniqueTable, useHarness } from './helpers/db.js';

const DIMS = 4;
const ALICE: StoreKey = { userId: 'alice', collection: 'notes' };
const BOB: StoreKey = { userId: 'bob', collection: 'notes' };

/** Every column, as text where text is exact (embedding: shortest round-trip floats; timestamps: microseconds). */
const ALL_COLUMNS = `id::text AS id, user_id, collection_name, text, embedding::text AS embedding, metadata::text AS metadata,
  created_at::text AS created_at, updated_at::text AS updated_at, content_sha256::text AS content_sha256, embedding_model,
  source_index, pca_model_id::text AS pca_model_id`;

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Rows of one store with real content hashes and a `version` mark in the text. */
function rowsOf(key: StoreKey, count: number, version: string, dims = DIMS): DocumentRow[] {
  return makeRows(key.userId, key.collection, count, dims).map((r) => {
    const text = `${r.text} ${version}`;
    return { ...r, text, contentSha256: sha256(text), metadataJson: JSON.stringify({ index: r.sourceIndex, version }) };
  });
}

function outcome(runId: string, table: string, key: StoreKey, status: StoreOutcome['status'], extra: Partial<StoreOutcome> = {}): StoreOutcome {
  return {
    runId,
    table,
    userId: key.userId,
    collection: key.collection,
    status,
    entries: 3,
    rowsLoaded: status === 'ok' ? 3 : 0,
    rowsSkipped: 0,
    rowsReused: 0,
    errorCode: status === 'failed' ? 'E_EMBED' : null,
    errorMessage: status === 'failed' ? 'model ran out of memory' : null,
    sourceSha256: 'f'.repeat(64),
    embeddingModel: 'test-model',
    backupPath: null,
    durationMs: 12.5,
    ...extra,
  };
}

/** A promise and the function that resolves it. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { promise, fire };
}

/** Batches that say when the load pulled them (its locks are held by then) and wait for `gate`. */
async function* gated(rows: DocumentRow[], entered: () => void, gate: Promise<void>): AsyncGenerator<DocumentRow[]> {
  entered();
  await gate;
  yield rows;
}

function bits(values: ArrayLike<number>): string {
  return Buffer.from(Float32Array.from(values).buffer).toString('hex');
}

/** Per-test tables and views of them, over one harness. */
function tools(ctx: ReturnType<typeof useHarness>) {
  /** `schema.docs` in a fresh schema (its own ledger), dropped with the schema after the test. */
  async function freshTable(name = 'docs'): Promise<string> {
    const schema = uniqueTable('sink_ledger');
    await ctx.h.query(`CREATE SCHEMA "${schema}"`);
    return ctx.track(`${schema}.${name}`);
  }

  async function freshTarget(dimensions = DIMS, vectorType: VectorType = 'vector'): Promise<TargetSpec> {
    const target = { table: await freshTable(), dimensions, vectorType };
    await ctx.h.sink.schema.ensureSchema(target);
    return target;
  }

  function schemaOf(table: string): string {
    return table.split('.')[0] as string;
  }

  async function startRun(table: string, options: Record<string, unknown> = {}): Promise<string> {
    const id = randomUUID();
    await ctx.h.sink.ledger.startRun({ id, toolVersion: '9.9.9-test', options }, { table });
    return id;
  }

  async function snapshot(table: string, key: StoreKey): Promise<Record<string, unknown>[]> {
    return ctx.h.query(`SELECT ${ALL_COLUMNS} FROM ${quoted(table)} WHERE user_id = $1 AND collection_name = $2 ORDER BY id`, [key.userId, key.collection]);
  }

  async function previousRows(table: string, runId?: string): Promise<Record<string, unknown>[]> {
    const prev = previousTable(resolveTable(table)).quoted;
    return ctx.h.query(
      `SELECT ${ALL_COLUMNS}, replaced_by_run::text AS replaced_by_run FROM ${prev} WHERE $1::uuid IS NULL OR replaced_by_run = $1::uuid ORDER BY user_id, collection_name, id`,
      [runId ?? null],
    );
  }

  async function tablesOf(schema: string): Promise<string[]> {
    const rows = await ctx.h.query<{ t: string }>(`SELECT tablename::text AS t FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [schema]);
    return rows.map((r) => r.t);
  }

  return { freshTable, freshTarget, schemaOf, startRun, snapshot, previousRows, tablesOf };
}

/** A valid 6 -> DIMS PCA model whose values do not matter: only its id ends up on rows. */
function placeholderModel(table: string): NewPcaModel {
  return {
    table,
    sourceDimensions: 6,
    targetDimensions: DIMS,
    mean: new Float32Array(6),
    components: new Float32Array(DIMS * 6),
    explainedVariance: new Float64Array(DIMS),
    totalVariance: 1,
    sampleSize: 1,
    method: 'test',
    fit: {},
    evaluation: new Float32Array(0),
    evaluationRows: 0,
  };
}

describe.each(DRIVERS)('sink ledger, previous rows and rollback (%s)', (driver) => {
  const ctx = useHarness(driver);
  const { freshTable, freshTarget, schemaOf, startRun, snapshot, previousRows, tablesOf } = tools(ctx);

  describe('migrations', () => {
    it('creates the ledger and _previous once; a second ensureSchema (or table) applies nothing again', async () => {
      const table = await freshTable();
      const schema = schemaOf(table);
      expect((await ctx.h.sink.schema.inspect({ table, dimensions: DIMS })).ledgerVersion).toBeNull();
      await ctx.h.sink.schema.ensureSchema({ table, dimensions: DIMS });
      const first = await ctx.h.query<{ version: number; name: string; applied_at: string }>(
        `SELECT version, name, applied_at::text AS applied_at FROM "${schema}".pgvector_migrate_migrations ORDER BY version`,
      );
      expect(first.map((m) => [m.version, m.name])).toEqual([
        [1, 'ledger'],
        [2, 'replacements'],
        [3, 'reembed_jobs'],
        [4, 'run_interrupted'],
      ]);
      expect(await tablesOf(schema)).toEqual(['docs', 'docs_previous', 'migration_replacements', 'migration_runs', 'migration_stores', 'pgvector_migrate_migrations', 'reembed_jobs', 'vector_pca_components', 'vector_pca_means', 'vector_pca_models']);

      await ctx.h.sink.schema.ensureSchema({ table, dimensions: DIMS });
      const other = ctx.track(`${schema}.other_docs`);
      await ctx.h.sink.schema.ensureSchema({ table: other, dimensions: 8 });
      const again = await ctx.h.query(`SELECT version, name, applied_at::text AS applied_at FROM "${schema}".pgvector_migrate_migrations ORDER BY version`);
      expect(again).toEqual(first);
      const info = await ctx.h.sink.schema.inspect({ table, dimensions: DIMS });
      expect(info).toMatchObject({ ledgerVersion: 4, previousTable: `${schema}.docs_previous`, previousTableExists: true });

      // The previous-rows table mirrors the documents table's columns and vector type.
      const cols = await ctx.h.query<{ name: string; type: string }>(
        `SELECT attname::text AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
        [`"${schema}"."other_docs_previous"`],
      );
      expect(cols.map((c) => c.name)).toEqual([
        'id',
        'user_id',
        'collection_name',
        'text',
        'embedding',
        'metadata',
        'created_at',
        'updated_at',
        'content_sha256',
        'embedding_model',
        'source_index',
        'pca_model_id',
        'replaced_by_run',
        'replaced_at',
        // Added by schema/007 after 005 created the table, as on a table of an earlier version.
        'embedding_fingerprint',
      ]);
      expect(cols.find((c) => c.name === 'embedding')?.type).toBe('vector(8)');
    });

    it("migration 004 lets a ledger of version 3 end a run as 'interrupted'", async () => {
      const target = await freshTarget();
      const schema = schemaOf(target.table);
      const old = await startRun(target.table);
      // The ledger as version 3 left it: 001's CHECK without 'interrupted', no row for 004.
      await ctx.h.query(`DELETE FROM "${schema}".pgvector_migrate_migrations WHERE version = 4`);
      await ctx.h.query(`ALTER TABLE "${schema}".migration_runs DROP CONSTRAINT migration_runs_status_check`);
      await ctx.h.query(`ALTER TABLE "${schema}".migration_runs ADD CONSTRAINT migration_runs_status_check CHECK (status IN ('running', 'succeeded', 'failed'))`);
      await expect(ctx.h.query(`UPDATE "${schema}".migration_runs SET status = 'interrupted' WHERE id = $1`, [old])).rejects.toThrow(/migration_runs_status_check/);
      await ctx.h.sink.schema.ensureSchema(target);
      const run = await startRun(target.table);
      expect((await ctx.h.sink.ledger.finishRun(run, 'interrupted', target)).status).toBe('interrupted');
      expect((await ctx.h.sink.ledger.getRun(run, target))?.status).toBe('interrupted');
      await expect(ctx.h.query(`UPDATE "${schema}".migration_runs SET status = 'bogus' WHERE id = $1`, [run])).rejects.toThrow(/migration_runs_status_check/);
    });

    it('re-applies idempotent migration files harmlessly when their version rows are gone', async () => {
      const target = await freshTarget();
      const schema = schemaOf(target.table);
      const run = await startRun(target.table);
      await ctx.h.query(`DELETE FROM "${schema}".pgvector_migrate_migrations`);
      await ctx.h.sink.schema.ensureSchema(target);
      const versions = await ctx.h.query<{ version: number }>(`SELECT version FROM "${schema}".pgvector_migrate_migrations ORDER BY version`);
      expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4]);
      // The ledger's rows survived (IF NOT EXISTS everywhere, nothing dropped).
      expect((await ctx.h.sink.ledger.getRun(run, target))?.id).toBe(run);
    });

    it('refuses a version table that names a migration differently', async () => {
      const target = await freshTarget();
      const schema = schemaOf(target.table);
      await ctx.h.query(`UPDATE "${schema}".pgvector_migrate_migrations SET name = 'something_else' WHERE version = 1`);
      await expectMigrateError(ctx.h.sink.schema.ensureSchema(target), 'E_SCHEMA', 'migration 1', 'something_else');
    });

    it('reads an absent ledger as empty, read-only, creating nothing', async () => {
      const table = await freshTable();
      const ro = await ctx.h.readOnlySink();
      for (const sink of [ro, ctx.h.sink]) {
        expect(await sink.ledger.latestOutcomes({ table })).toEqual([]);
        expect(await sink.ledger.lastSuccessfulLoad(table, ALICE)).toBeNull();
        expect(await sink.ledger.getRun(randomUUID(), { table })).toBeNull();
        expect(await sink.rollback.storesReplacedBy({ table }, randomUUID())).toEqual([]);
        expect(await sink.reads.readStoreSummaries({ table }, ALICE)).toEqual([]);
        expect(await sink.reads.readRowsByIds({ table }, [randomUUID()])).toEqual([]);
        expect((await sink.reads.lookupEmbeddings({ table }, ALICE, ['a'.repeat(64)], { embeddingModel: 'm', pcaModelId: null })).size).toBe(0);
      }
      expect(await tablesOf(schemaOf(table))).toEqual([]);
      // Writing the ledger needs it: E_SCHEMA on a writable sink, E_USAGE on a read-only one.
      await expectMigrateError(ctx.h.sink.ledger.startRun({ id: randomUUID(), toolVersion: '1', options: {} }, { table }), 'E_SCHEMA', 'ensureSchema');
      await expectMigrateError(ro.ledger.startRun({ id: randomUUID(), toolVersion: '1', options: {} }, { table }), 'E_USAGE', 'read-only');
      await expectMigrateError(ro.schema.ensureSchema({ table, dimensions: DIMS }), 'E_USAGE');
      expect(await tablesOf(schemaOf(table))).toEqual([]);

      // Once it exists, the read-only sink reads it and still writes nothing.
      await ctx.h.sink.schema.ensureSchema({ table, dimensions: DIMS });
      const run = await startRun(table);
      await ctx.h.sink.ledger.recordStore(outcome(run, table, ALICE, 'ok'));
      expect((await ro.ledger.latestOutcomes({ table })).map((o) => o.runId)).toEqual([run]);
      expect((await ro.ledger.getRun(run, { table }))?.status).toBe('running');
      await expectMigrateError(ro.ledger.recordStore(outcome(run, table, ALICE, 'ok')), 'E_USAGE', 'read-only');
      await expectMigrateError(ro.rollback.rollbackStore({ table }, ALICE, run), 'E_USAGE', 'read-only');
      await expectMigrateError(ro.rollback.purgePrevious({ table }, 1), 'E_USAGE', 'read-only');
    });
  });

  describe('ledger', () => {
    it('records runs and store outcomes and reads them back', async () => {
      const target = await freshTarget();
      const id = randomUUID();
      const started = await ctx.h.sink.ledger.startRun({ id, toolVersion: '1.2.3', options: { table: target.table, batchSize: 32, users: ['a', 'b'] } }, target);
      expect(started).toMatchObject({ id, toolVersion: '1.2.3', status: 'running', finishedAt: null, options: { table: target.table, batchSize: 32, users: ['a', 'b'] } });
      expect(started.startedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(await ctx.h.sink.ledger.getRun(id, target)).toEqual(started);

      const failed = outcome(id, target.table, ALICE, 'failed', { entries: null, backupPath: '/backups/alice', sourceSha256: null });
      const recorded = await ctx.h.sink.ledger.recordStore(failed);
      expect(recorded.recordedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      const [back] = await ctx.h.sink.ledger.latestOutcomes({ table: target.table });
      expect(back).toEqual({ ...failed, recordedAt: recorded.recordedAt, rolledBackAt: null });

      const finished = await ctx.h.sink.ledger.finishRun(id, 'failed', target);
      expect(finished).toMatchObject({ id, status: 'failed' });
      expect(finished.finishedAt).not.toBeNull();
      expect(await ctx.h.sink.ledger.getRun(id, target)).toEqual(finished);

      await expectMigrateError(ctx.h.sink.ledger.finishRun(randomUUID(), 'succeeded', target), 'E_USAGE', 'not in the ledger');
      await expectMigrateError(ctx.h.sink.ledger.recordStore(outcome(randomUUID(), target.table, ALICE, 'ok')), 'E_USAGE', 'not in the ledger');
      await expectMigrateError(ctx.h.sink.ledger.recordStore(outcome(id, target.table, ALICE, 'ok', { rowsLoaded: -1 })), 'E_USAGE', 'rowsLoaded');
      await expectMigrateError(ctx.h.sink.ledger.recordStore(outcome('nope', target.table, ALICE, 'ok')), 'E_USAGE', 'UUID');
      await expectMigrateError(ctx.h.sink.ledger.startRun({ id, toolVersion: '1', options: {} }, target), 'E_LOAD');
      await expectMigrateError(ctx.h.sink.ledger.finishRun(id, 'running' as 'failed', target), 'E_USAGE');
      // Runs of a qualified table live in its schema's ledger, not in the search_path's.
      expect(await ctx.h.sink.ledger.getRun(id)).toBeNull();
    });

    it('gives the latest outcome per store by order of recording, even with equal timestamps', async () => {
      const target = await freshTarget();
      const table = target.table;
      const run1 = await startRun(table);
      const run2 = await startRun(table);
      const carol = { userId: 'carol', collection: 'c' };
      await ctx.h.sink.ledger.recordStore(outcome(run1, table, ALICE, 'ok', { sourceSha256: '1'.repeat(64) }));
      await ctx.h.sink.ledger.recordStore(outcome(run1, table, BOB, 'failed'));
      await ctx.h.sink.ledger.recordStore(outcome(run1, table, carol, 'ok'));
      await ctx.h.sink.ledger.recordStore(outcome(run2, table, ALICE, 'failed'));
      await ctx.h.sink.ledger.recordStore(outcome(run2, table, BOB, 'ok', { sourceSha256: '2'.repeat(64) }));
      await ctx.h.sink.ledger.recordStore(outcome(run2, table, carol, 'unchanged'));
      await ctx.h.sink.ledger.recordStore(outcome(run2, table, { userId: 'alice', collection: 'other' }, 'ok'));
      // Same clock reading for every outcome: the order of recording still decides.
      await ctx.h.query(`UPDATE "${schemaOf(table)}".migration_stores SET recorded_at = '2020-01-01T00:00:00Z'`);

      const latest = await ctx.h.sink.ledger.latestOutcomes({ table });
      expect(latest.map((o) => [o.userId, o.collection, o.runId === run2 ? 'run2' : 'run1', o.status])).toEqual([
        ['alice', 'notes', 'run2', 'failed'],
        ['alice', 'other', 'run2', 'ok'],
        ['bob', 'notes', 'run2', 'ok'],
        ['carol', 'c', 'run2', 'unchanged'],
      ]);
      expect((await ctx.h.sink.ledger.latestOutcomes({ table, userId: 'alice' })).map((o) => o.collection)).toEqual(['notes', 'other']);
      expect((await ctx.h.sink.ledger.latestOutcomes({ table, userId: 'alice', collection: 'notes' })).map((o) => o.status)).toEqual(['failed']);
      expect(await ctx.h.sink.ledger.latestOutcomes({ table, collection: 'nope' })).toEqual([]);
      // Another table of the same schema shares the ledger but not the outcomes.
      expect(await ctx.h.sink.ledger.latestOutcomes({ table: `${schemaOf(table)}.elsewhere` })).toEqual([]);

      // Last successful load: the latest 'ok', skipping later failures and 'unchanged'.
      expect(await ctx.h.sink.ledger.lastSuccessfulLoad(table, ALICE)).toMatchObject({ runId: run1, status: 'ok', sourceSha256: '1'.repeat(64) });
      expect(await ctx.h.sink.ledger.lastSuccessfulLoad({ table }, BOB)).toMatchObject({ runId: run2, sourceSha256: '2'.repeat(64) });
      expect(await ctx.h.sink.ledger.lastSuccessfulLoad(table, carol)).toMatchObject({ runId: run1 });
      expect(await ctx.h.sink.ledger.lastSuccessfulLoad(table, { userId: 'dave', collection: 'x' })).toBeNull();

      // Two 'ok' outcomes of one store with equal timestamps: the later recorded wins.
      await ctx.h.sink.ledger.recordStore(outcome(run1, table, ALICE, 'ok', { sourceSha256: '3'.repeat(64) }));
      await ctx.h.sink.ledger.recordStore(outcome(run2, table, ALICE, 'ok', { sourceSha256: '4'.repeat(64) }));
      await ctx.h.query(`UPDATE "${schemaOf(table)}".migration_stores SET recorded_at = '2020-01-01T00:00:00Z'`);
      expect((await ctx.h.sink.ledger.lastSuccessfulLoad(table, ALICE))?.sourceSha256).toBe('4'.repeat(64));
    });
  });

  describe('previous rows and rollback', () => {
    it('keeps exactly the rows a run replaces, under its id', async () => {
      const target = await freshTarget();
      const table = target.table;
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 5, 'v1'), 2));
      await ctx.h.sink.loads.replaceStore(target, BOB, inBatches(rowsOf(BOB, 2, 'v1'), 2));
      const aliceV1 = await snapshot(table, ALICE);
      const bobV1 = await snapshot(table, BOB);

      // Without a run id nothing is kept.
      await ctx.h.sink.loads.replaceStore(target, BOB, inBatches(rowsOf(BOB, 2, 'v1'), 2));
      expect(await previousRows(table)).toEqual([]);

      const run = await startRun(table);
      expect(await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 3, 'v2'), 2), { runId: run })).toEqual({ rowsLoaded: 3, rowsReplaced: 5 });
      const kept = await previousRows(table, run);
      expect(kept.map(({ replaced_by_run, ...columns }) => (expect(replaced_by_run).toBe(run), columns))).toEqual(aliceV1);
      expect(await snapshot(table, BOB)).not.toEqual(bobV1); // (reloaded above without a run id: new created_at)

      // A new store is recorded too, with nothing kept; the same run writing ALICE again keeps v1.
      const carol = { userId: 'carol', collection: 'c' };
      await ctx.h.sink.loads.replaceStore(target, carol, inBatches(rowsOf(carol, 2, 'v2'), 2), { runId: run });
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 4, 'v3'), 2), { runId: run });
      expect(await previousRows(table, run)).toEqual(kept);
      expect(await ctx.h.sink.rollback.storesReplacedBy(target, run)).toEqual([ALICE, carol]);
      const markers = await ctx.h.query<{ user_id: string; rows_saved: number }>(
        `SELECT user_id, rows_saved FROM "${schemaOf(table)}".migration_replacements WHERE run_id = $1 ORDER BY user_id`,
        [run],
      );
      expect(markers).toEqual([
        { user_id: 'alice', rows_saved: 5 },
        { user_id: 'carol', rows_saved: 0 },
      ]);

      // A failed load keeps nothing (one transaction with the load).
      const run2 = await startRun(table);
      async function* failing(): AsyncGenerator<DocumentRow[]> {
        yield rowsOf(BOB, 1, 'v9');
        throw new Error('embedder crashed');
      }
      await expectMigrateError(ctx.h.sink.loads.replaceStore(target, BOB, failing(), { runId: run2 }), 'E_LOAD', 'embedder crashed');
      expect(await previousRows(table, run2)).toEqual([]);
      expect(await ctx.h.sink.rollback.storesReplacedBy(target, run2)).toEqual([]);

      // A run id must be a UUID of a started run, in this table's schema.
      await expectMigrateError(ctx.h.sink.loads.replaceStore(target, BOB, inBatches([], 1), { runId: 'run-1' }), 'E_USAGE', 'UUID');
      await expectMigrateError(ctx.h.sink.loads.replaceStore(target, BOB, inBatches([], 1), { runId: randomUUID() }), 'E_USAGE', 'startRun');
      expect(await countByStore(ctx.h, table)).toEqual({ 'alice/notes': 4, 'bob/notes': 2, 'carol/c': 2 });
    });

    it('rolls a store back bit for bit, every column, and only once', async () => {
      const target = await freshTarget();
      const table = target.table;
      const model = await ctx.h.sink.pcaModels.save(placeholderModel(table));
      const v1 = rowsOf(ALICE, 5, 'v1 ü 🦄').map((r, i) => ({
        ...r,
        pcaModelId: i % 2 === 0 ? model.id : null,
        // -0, a float32 subnormal and values that need every digit
        embedding: i === 0 ? new Float32Array([-0, 1.401298464324817e-45, 0.1, -1 / 3]) : r.embedding,
        metadataJson: JSON.stringify({ nested: { a: [1, 2.5, 'x'] }, i, quote: '"\\' }),
      }));
      const run1 = await startRun(table);
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(v1, 2), { runId: run1 });
      await ctx.h.sink.ledger.recordStore(outcome(run1, table, ALICE, 'ok', { sourceSha256: '1'.repeat(64) }));
      // The application touches a row's metadata long before the second run.
      await ctx.h.query(`UPDATE ${quoted(table)} SET metadata = '{"edited": true}', updated_at = now() - interval '1 day' WHERE source_index = 4`);
      await ctx.h.query(`UPDATE ${quoted(table)} SET created_at = created_at - interval '1 day', updated_at = updated_at - interval '1 day'`);
      const before = await snapshot(table, ALICE);
      expect(before.filter((r) => r.pca_model_id === model.id)).toHaveLength(3);

      const run2 = await startRun(table);
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 3, 'v2'), 2), { runId: run2 });
      await ctx.h.sink.ledger.recordStore(outcome(run2, table, ALICE, 'ok', { sourceSha256: '2'.repeat(64) }));
      await ctx.h.sink.loads.replaceStore(target, BOB, inBatches(rowsOf(BOB, 2, 'v1'), 2));
      const bob = await snapshot(table, BOB);

      expect(await ctx.h.sink.rollback.rollbackStore(target, ALICE, run2)).toEqual({ restored: 5, removed: 3 });
      expect(await snapshot(table, ALICE)).toEqual(before);
      expect(await snapshot(table, BOB)).toEqual(bob);
      // Restored rows leave _previous; the replacement is marked, and cannot be rolled back twice.
      expect(await previousRows(table, run2)).toEqual([]);
      expect(await ctx.h.sink.rollback.storesReplacedBy(target, run2)).toEqual([]);
      await expectMigrateError(ctx.h.sink.rollback.rollbackStore(target, ALICE, run2), 'E_ROLLBACK', 'rolled back already');
      expect(await snapshot(table, ALICE)).toEqual(before);

      // The ledger: the latest outcome shows the rollback; the last successful load is run1's again.
      const [latest] = await ctx.h.sink.ledger.latestOutcomes({ table, userId: 'alice' });
      expect(latest?.runId).toBe(run2);
      expect(latest?.rolledBackAt).toMatch(/^\d{4}-/);
      expect(await ctx.h.sink.ledger.lastSuccessfulLoad(table, ALICE)).toMatchObject({ runId: run1, sourceSha256: '1'.repeat(64), rolledBackAt: null });

      // A run that did not replace the store (or replaced it without a run id) has nothing to roll back.
      await expectMigrateError(ctx.h.sink.rollback.rollbackStore(target, BOB, run2), 'E_ROLLBACK', 'did not replace');
      await expectMigrateError(ctx.h.sink.rollback.rollbackStore(target, ALICE, 'x'), 'E_USAGE', 'UUID');
    });

    it('rolls a store that had no rows back to empty', async () => {
      const target = await freshTarget();
      const run = await startRun(target.table);
      await ctx.h.sink.loads.replaceStore(target, BOB, inBatches(rowsOf(BOB, 2, 'v1'), 2));
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 4, 'v1'), 3), { runId: run });
      expect(await ctx.h.sink.rollback.storesReplacedBy(target, run)).toEqual([ALICE]);
      expect(await ctx.h.sink.rollback.rollbackStore({ table: target.table }, ALICE, run)).toEqual({ restored: 0, removed: 4 });
      expect(await countByStore(ctx.h, target.table)).toEqual({ 'bob/notes': 2 });
    });

    it('rolls back in one transaction: a failure midway leaves the current rows as they were', async () => {
      const target = await freshTarget();
      const table = target.table;
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 4, 'v1'), 2));
      const run = await startRun(table);
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 2, 'v2'), 2), { runId: run });
      const current = await snapshot(table, ALICE);
      const prev = previousTable(resolveTable(table)).quoted;

      // The re-insert fails after the delete ran (a kept row names a PCA model that does not exist).
      await ctx.h.query(`UPDATE ${prev} SET pca_model_id = '99999999-9999-4999-8999-999999999999' WHERE source_index = 3`);
      const fk = await expectMigrateError(ctx.h.sink.rollback.rollbackStore(target, ALICE, run), 'E_ROLLBACK', 'alice/notes');
      expect(fk.message).toMatch(/foreign key/i);
      expect(await snapshot(table, ALICE)).toEqual(current);
      expect(await previousRows(table, run)).toHaveLength(4);
      expect(await ctx.h.sink.rollback.storesReplacedBy(target, run)).toEqual([ALICE]);

      // Fewer kept rows than recorded: refused, nothing changed.
      await ctx.h.query(`DELETE FROM ${prev} WHERE source_index = 3`);
      await expectMigrateError(ctx.h.sink.rollback.rollbackStore(target, ALICE, run), 'E_ROLLBACK', '4 rows were kept but 3');
      expect(await snapshot(table, ALICE)).toEqual(current);
      expect(await previousRows(table, run)).toHaveLength(3);

      // The sink is healthy afterwards.
      expect(await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 1, 'v3'), 1))).toEqual({ rowsLoaded: 1, rowsReplaced: 2 });
    });

    it('refuses to roll back out of order or over rows written since', async () => {
      const target = await freshTarget();
      const table = target.table;
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 3, 'v0'), 3));
      const v0 = await snapshot(table, ALICE);
      const run1 = await startRun(table);
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 2, 'v1'), 3), { runId: run1 });
      const v1 = await snapshot(table, ALICE);
      const run2 = await startRun(table);
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 4, 'v2'), 3), { runId: run2 });
      // The same run loading the store a second time (as a PCA refit does) is still its own write.
      await ctx.h.sink.transaction(target, async (session) => {
        await session.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 4, 'v2 refit'), 3), { runId: run2 });
      });
      // run1 cannot write the store again now: run2's rows would be lost.
      await expectMigrateError(ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 1, 'v1b'), 1), { runId: run1 }), 'E_LOAD', `run ${run2} replaced this store after run ${run1}`);

      await expectMigrateError(ctx.h.sink.rollback.rollbackStore(target, ALICE, run1), 'E_ROLLBACK', `roll back run ${run2} first`);
      expect(await ctx.h.sink.rollback.rollbackStore(target, ALICE, run2)).toEqual({ restored: 2, removed: 4 });
      expect(await snapshot(table, ALICE)).toEqual(v1);
      expect(await ctx.h.sink.rollback.rollbackStore(target, ALICE, run1)).toEqual({ restored: 3, removed: 2 });
      expect(await snapshot(table, ALICE)).toEqual(v0);
      // A rolled-back run does not write the store again.
      await expectMigrateError(ctx.h.sink.loads.replaceStore(target, ALICE, inBatches([], 1), { runId: run1 }), 'E_LOAD', 'rolled back');

      // Rows written after a run, by a load without run id or by the application, are not thrown away.
      const run3 = await startRun(table);
      await ctx.h.sink.loads.replaceStore(target, BOB, inBatches(rowsOf(BOB, 2, 'v1'), 2), { runId: run3 });
      await ctx.h.query(`UPDATE ${quoted(table)} SET text = 'edited by the app', updated_at = now() + interval '1 second' WHERE user_id = 'bob' AND source_index = 1`);
      await expectMigrateError(ctx.h.sink.rollback.rollbackStore(target, BOB, run3), 'E_ROLLBACK', '1 of its rows were written after the run');
      const run4 = await startRun(table);
      await ctx.h.sink.loads.replaceStore(target, { userId: 'carol', collection: 'c' }, inBatches(rowsOf({ userId: 'carol', collection: 'c' }, 2, 'v1'), 2), { runId: run4 });
      await ctx.h.sink.loads.replaceStore(target, { userId: 'carol', collection: 'c' }, inBatches(rowsOf({ userId: 'carol', collection: 'c' }, 3, 'v2'), 2));
      await expectMigrateError(ctx.h.sink.rollback.rollbackStore(target, { userId: 'carol', collection: 'c' }, run4), 'E_ROLLBACK', '3 of its rows were written after the run');
      expect(await countByStore(ctx.h, table)).toEqual({ 'alice/notes': 3, 'bob/notes': 2, 'carol/c': 3 });
    });

    it('purges only kept rows older than the cut-off, with DELETE', async () => {
      const target = await freshTarget();
      const table = target.table;
      const schema = schemaOf(table);
      const prev = previousTable(resolveTable(table)).quoted;
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 3, 'v0'), 3));
      await ctx.h.sink.loads.replaceStore(target, BOB, inBatches(rowsOf(BOB, 2, 'v0'), 3));
      const old = await startRun(table);
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 1, 'v1'), 3), { runId: old });
      const recent = await startRun(table);
      await ctx.h.sink.loads.replaceStore(target, BOB, inBatches(rowsOf(BOB, 1, 'v1'), 3), { runId: recent });
      await ctx.h.query(`UPDATE ${prev} SET replaced_at = replaced_at - interval '10 days' WHERE replaced_by_run = $1`, [old]);
      await ctx.h.query(`UPDATE "${schema}".migration_replacements SET replaced_at = replaced_at - interval '10 days' WHERE run_id = $1`, [old]);

      await expectMigrateError(ctx.h.sink.rollback.purgePrevious(target, -1), 'E_USAGE');
      await expectMigrateError(ctx.h.sink.rollback.purgePrevious(target, Number.NaN), 'E_USAGE');
      expect(await ctx.h.sink.rollback.purgePrevious(target, 30)).toBe(0);
      expect(await ctx.h.sink.rollback.purgePrevious({ table }, 7)).toBe(3);
      expect(await previousRows(table, old)).toEqual([]);
      expect(await previousRows(table, recent)).toHaveLength(2);
      expect(await ctx.h.sink.rollback.storesReplacedBy(target, old)).toEqual([]);
      await expectMigrateError(ctx.h.sink.rollback.rollbackStore(target, ALICE, old), 'E_ROLLBACK', 'purged');
      expect(await countByStore(ctx.h, table)).toEqual({ 'alice/notes': 1, 'bob/notes': 1 });
      expect(await ctx.h.sink.rollback.rollbackStore(target, BOB, recent)).toEqual({ restored: 2, removed: 1 });
      // Nothing was dropped; a table without _previous purges nothing.
      expect(await tablesOf(schema)).toContain('docs_previous');
      expect(await ctx.h.sink.rollback.purgePrevious({ table: `${schema}.never_created` }, 0)).toBe(0);
    });

    it('keeps _previous within 63 bytes for long table names, and refuses look-alikes', async () => {
      const schema = schemaOf(await freshTable());
      const long = ctx.track(`${schema}.${uniqueTable('l'.repeat(52))}`);
      const target = { table: long, dimensions: DIMS };
      await ctx.h.sink.schema.ensureSchema(target);
      const info = await ctx.h.sink.schema.inspect(target);
      const name = (info.previousTable ?? '').split('.')[1] ?? '';
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/_[0-9a-f]{8}_previous$/);
      expect(info.previousTableExists).toBe(true);
      const run = await startRun(long);
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 2, 'v1'), 2));
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 1, 'v2'), 2), { runId: run });
      expect(await ctx.h.sink.rollback.rollbackStore(target, ALICE, run)).toEqual({ restored: 2, removed: 1 });

      // A documents table named like another's previous-rows table is refused, not written into.
      const docs = ctx.track(`${schema}.notes`);
      const impostor = ctx.track(`${schema}.notes_previous`);
      await ctx.h.sink.schema.ensureSchema({ table: impostor, dimensions: DIMS });
      await expectMigrateError(ctx.h.sink.schema.inspect({ table: docs, dimensions: DIMS }), 'E_SCHEMA', 'notes_previous', 'replaced_by_run');
      await expectMigrateError(ctx.h.sink.schema.ensureSchema({ table: docs, dimensions: DIMS }), 'E_SCHEMA', 'notes_previous');
      expect(await tablesOf(schema)).not.toContain('notes');
      // And a previous-rows table cannot be a target itself.
      await ctx.h.sink.schema.ensureSchema({ table: `${schema}.docs`, dimensions: DIMS });
      await expectMigrateError(ctx.h.sink.schema.ensureSchema({ table: `${schema}.docs_previous`, dimensions: DIMS }), 'E_SCHEMA', 'replaced_by_run');
      await expectMigrateError(ctx.h.sink.loads.replaceStore({ table: `${schema}.docs_previous`, dimensions: DIMS }, ALICE, inBatches([], 1)), 'E_SCHEMA', 'replaced_by_run');
      for (const reserved of ['migration_runs', 'migration_stores', 'migration_replacements', 'pgvector_migrate_migrations', 'reembed_jobs']) {
        await expectMigrateError(ctx.h.sink.schema.ensureSchema({ table: `${schema}.${reserved}`, dimensions: DIMS }), 'E_USAGE', 'reserved');
      }
    });
  });

  describe('reuse and verification reads', () => {
    it('returns stored embeddings bit for bit, only for the same embedding and PCA model', async () => {
      const target = await freshTarget();
      const model = await ctx.h.sink.pcaModels.save(placeholderModel(target.table));
      const special = new Float32Array([-0, 1.401298464324817e-45, 0.1, -3.4028234663852886e38]);
      const rows: DocumentRow[] = rowsOf(ALICE, 4, 'v1').map((r, i) => ({ ...r, embedding: i === 0 ? special : r.embedding, pcaModelId: i === 3 ? model.id : null }));
      // A duplicate text (same hash) in the store, and the same texts in another store.
      rows.push({ ...makeRow('alice', 'notes', 4, DIMS), text: rows[1]?.text ?? '', contentSha256: rows[1]?.contentSha256 ?? '', embedding: rows[1]?.embedding ?? special });
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rows, 2));
      await ctx.h.sink.loads.replaceStore(target, BOB, inBatches(rowsOf(BOB, 2, 'v1'), 2));
      const shas = rows.map((r) => r.contentSha256);
      const plain = { embeddingModel: 'test-model', pcaModelId: null };

      const found = await ctx.h.sink.reads.lookupEmbeddings(target, ALICE, [...shas, 'e'.repeat(64)], plain);
      expect([...found.keys()].sort()).toEqual([shas[0], shas[1], shas[2]].sort());
      expect(bits(found.get(shas[0] as string) ?? [])).toBe(bits(special));
      expect(Object.is(found.get(shas[0] as string)?.[0], -0)).toBe(true);
      expect(bits(found.get(shas[2] as string) ?? [])).toBe(bits(rows[2]?.embedding ?? []));
      // PCA-projected rows match only their model's fingerprint; another embedding model nothing.
      const projected = await ctx.h.sink.reads.lookupEmbeddings({ table: target.table }, ALICE, shas, { embeddingModel: 'test-model', pcaModelId: model.id });
      expect([...projected.keys()]).toEqual([shas[3]]);
      expect((await ctx.h.sink.reads.lookupEmbeddings(target, ALICE, shas, { embeddingModel: 'other-model', pcaModelId: null })).size).toBe(0);
      expect((await ctx.h.sink.reads.lookupEmbeddings(target, { userId: 'alice', collection: 'x' }, shas, plain)).size).toBe(0);
      expect((await ctx.h.sink.reads.lookupEmbeddings(target, ALICE, [], plain)).size).toBe(0);
      await expectMigrateError(ctx.h.sink.reads.lookupEmbeddings(target, ALICE, ['abc'], plain), 'E_USAGE', 'abc');
      await expectMigrateError(ctx.h.sink.reads.lookupEmbeddings({ table: target.table, dimensions: 8 }, ALICE, shas, plain), 'E_DIM_MISMATCH');
    });

    it('with a full fingerprint, reuses only rows of that very fingerprint (a model file replaced under the same id reuses nothing)', async () => {
      const target = await freshTarget();
      const rows: DocumentRow[] = rowsOf(ALICE, 3, 'v1').map((r) => ({ ...r, embeddingFingerprint: '{"modelSha256":"aaa"}' }));
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rows, 2));
      const shas = rows.map((r) => r.contentSha256);
      const same = { embeddingModel: 'test-model', pcaModelId: null, embeddingFingerprint: '{"modelSha256":"aaa"}' };
      expect((await ctx.h.sink.reads.lookupEmbeddings(target, ALICE, shas, same)).size).toBe(3);
      expect((await ctx.h.sink.reads.lookupEmbeddings(target, ALICE, shas, { ...same, embeddingFingerprint: '{"modelSha256":"bbb"}' })).size).toBe(0);
    });

    it('returns the float16 values of a halfvec column as float32', async () => {
      const target = await freshTarget(DIMS, 'halfvec');
      const values = new Float32Array([0.1, -1 / 3, 65504, 6e-8]);
      const rows = rowsOf(ALICE, 1, 'v1').map((r) => ({ ...r, embedding: values }));
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rows, 1));
      const found = await ctx.h.sink.reads.lookupEmbeddings(target, ALICE, [rows[0]?.contentSha256 ?? ''], { embeddingModel: 'test-model', pcaModelId: null });
      expect(Array.from(found.values())[0]).toEqual(Float32Array.from(values, referenceFloat16));
    });

    it('hands a load a lookup that sees the rows being replaced (in a transaction too)', async () => {
      const target = await freshTarget();
      const v1 = rowsOf(ALICE, 6, 'v1');
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(v1, 6));
      const fingerprint = { embeddingModel: 'test-model', pcaModelId: null };
      const seen: number[] = [];
      // The same texts again: every vector comes from the lookup, batch by batch.
      const load = async (loads: LoadRepository, options?: LoadOptions) => {
        const writer = await loads.openStore(target, ALICE, options);
        for (let i = 0; i < v1.length; i += 2) {
          const batch = v1.slice(i, i + 2);
          const found = await writer.lookup(
            batch.map((r) => r.contentSha256),
            fingerprint,
          );
          seen.push(found.size);
          await writer.write(batch.map((r) => ({ ...r, embedding: found.get(r.contentSha256) ?? new Float32Array(DIMS) })));
        }
        return writer.commit();
      };
      const run = await startRun(target.table);
      expect(await load(ctx.h.sink.loads, { runId: run })).toEqual({ rowsLoaded: 6, rowsReplaced: 6 });
      expect(seen).toEqual([2, 2, 2]);
      const stored = await ctx.h.query<{ embedding: number[] }>(`SELECT embedding::real[] AS embedding FROM ${quoted(target.table)} ORDER BY source_index`);
      expect(stored.map((r) => bits(r.embedding))).toEqual(v1.map((r) => bits(r.embedding)));

      seen.length = 0;
      await ctx.h.sink.transaction(target, async (session) => {
        await load(session.loads);
      });
      expect(seen).toEqual([2, 2, 2]);
    });

    it('summarises a store for verification and shows a text altered behind its back', async () => {
      const target = await freshTarget();
      const rows = rowsOf(ALICE, 4, 'v1 — naïve 🦄').reverse();
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rows, 3));
      await ctx.h.sink.loads.replaceStore(target, BOB, inBatches(rowsOf(BOB, 2, 'v1'), 3));
      const summaries = await ctx.h.sink.reads.readStoreSummaries(target, ALICE);
      expect(summaries.map((s) => s.sourceIndex)).toEqual([0, 1, 2, 3]);
      for (const s of summaries) {
        const row = rows.find((r) => r.id === s.id);
        expect(s).toEqual({
          id: row?.id,
          userId: 'alice',
          collection: 'notes',
          sourceIndex: row?.sourceIndex,
          contentSha256: row?.contentSha256,
          textSha256: row?.contentSha256,
          embeddingModel: 'test-model',
          pcaModelId: null,
        });
      }
      await ctx.h.query(`UPDATE ${quoted(target.table)} SET text = text || ' (edited)' WHERE user_id = 'alice' AND source_index = 2`);
      const after = await ctx.h.sink.reads.readStoreSummaries({ table: target.table }, ALICE);
      expect(after.filter((s) => s.textSha256 !== s.contentSha256).map((s) => s.sourceIndex)).toEqual([2]);
      expect(after[2]?.textSha256).toBe(sha256(`${rows.find((r) => r.sourceIndex === 2)?.text ?? ''} (edited)`));

      // A row of alice's store filed under another user is found by id.
      const moved = summaries[1]?.id ?? '';
      await ctx.h.query(`UPDATE ${quoted(target.table)} SET user_id = 'mallory' WHERE id = $1`, [moved]);
      const ids = rows.map((r) => r.id);
      const owners = await ctx.h.sink.reads.readRowsByIds(target, [...ids, randomUUID(), ids[0]?.toUpperCase() ?? '']);
      expect(owners).toHaveLength(4);
      expect(owners.filter((o) => o.userId !== 'alice')).toEqual([{ id: moved, userId: 'mallory', collection: 'notes' }]);
      expect(await ctx.h.sink.reads.readRowsByIds(target, [])).toEqual([]);
      await expectMigrateError(ctx.h.sink.reads.readRowsByIds(target, ['not-a-uuid']), 'E_USAGE');
      expect(await ctx.h.sink.reads.readStoreSummaries(target, { userId: 'nobody', collection: 'x' })).toEqual([]);
    });
  });

  it('keeps the ledger of an unqualified table in the search_path schema', async () => {
    const table = ctx.track(uniqueTable('sink_ledger_plain'));
    await ctx.h.sink.schema.ensureSchema({ table, dimensions: DIMS });
    const id = randomUUID();
    // No ledger argument: the search_path's ledger, the one an unqualified table uses.
    await ctx.h.sink.ledger.startRun({ id, toolVersion: '1', options: {} });
    await ctx.h.sink.ledger.recordStore(outcome(id, table, ALICE, 'ok'));
    expect((await ctx.h.sink.ledger.latestOutcomes({ table })).map((o) => o.runId)).toEqual([id]);
    expect((await ctx.h.sink.ledger.finishRun(id, 'succeeded')).status).toBe('succeeded');
    expect((await ctx.h.sink.ledger.getRun(id, { table }))?.status).toBe('succeeded');
    const [row] = await ctx.h.query<{ n: number }>(`SELECT count(*)::int AS n FROM migration_stores WHERE run_id = $1`, [id]);
    expect(row?.n).toBe(1);
  });
});

/**
 * Locks need two sessions to be seen: PostgreSQL only (a second sink is a second pool, like a
 * second run of the tool).
 */
describe('sink store locks across sessions (pg)', () => {
  const ctx = useHarness('pg');
  const { freshTable, freshTarget, schemaOf, startRun, tablesOf } = tools(ctx);

  it('no-wait fails with E_LOCKED while another session writes the store; wait says so once, then proceeds', async () => {
    const target = await freshTarget();
    await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 2, 'v0'), 2));
    const other: Sink = await openSink({ databaseUrl: TEST_DATABASE_URL, pgliteDir: '/nonexistent' });
    const entered = signal();
    const gate = signal();
    const holder = ctx.h.sink.loads.replaceStore(target, ALICE, gated(rowsOf(ALICE, 3, 'holder'), entered.fire, gate.promise));
    try {
      await entered.promise;
      await expectMigrateError(
        other.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 1, 'x'), 1), { lock: 'no-wait' }),
        'E_LOCKED',
        'alice/notes is being written by another run (lock held); re-run later or without --no-wait',
      );
      const run = await startRun(target.table);
      await expectMigrateError(other.rollback.rollbackStore(target, ALICE, run, { lock: 'no-wait' }), 'E_LOCKED', 'alice/notes');
      // Another store of the same table is not held up.
      expect(await other.loads.replaceStore(target, BOB, inBatches(rowsOf(BOB, 1, 'v1'), 1), { lock: 'no-wait' })).toEqual({ rowsLoaded: 1, rowsReplaced: 0 });

      let waits = 0;
      let done = false;
      const waiting = other.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 4, 'waiter'), 4), { onWait: () => waits++ }).then((r) => {
        done = true;
        return r;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(waits).toBe(1);
      expect(done).toBe(false);
      gate.fire();
      expect(await holder).toEqual({ rowsLoaded: 3, rowsReplaced: 2 });
      expect(await waiting).toEqual({ rowsLoaded: 4, rowsReplaced: 3 });
      expect(waits).toBe(1);

      // Uncontended, onWait is never called.
      let idle = 0;
      await other.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 1, 'v9'), 1), { onWait: () => idle++ });
      expect(idle).toBe(0);
    } finally {
      gate.fire();
      await holder.catch(() => undefined);
      await other.close();
    }
    expect(await countByStore(ctx.h, target.table)).toEqual({ 'alice/notes': 1, 'bob/notes': 1 });
  });

  it('locks one table under every spelling of its name, and one store exactly', async () => {
    const name = ctx.track(uniqueTable('sink_ledger_spelling'));
    const plain = { table: name, dimensions: DIMS };
    const qualified = { table: `public.${name}`, dimensions: DIMS };
    await ctx.h.sink.schema.ensureSchema(plain);
    // Two stores whose user and collection only differ in where a space falls.
    const held = { userId: 'alice', collection: 'notes x' };
    const lookalike = { userId: 'alice notes', collection: 'x' };
    const other: Sink = await openSink({ databaseUrl: TEST_DATABASE_URL, pgliteDir: '/nonexistent' });
    const entered = signal();
    const gate = signal();
    const holder = ctx.h.sink.loads.replaceStore(plain, held, gated(rowsOf(held, 1, 'holder'), entered.fire, gate.promise));
    try {
      await entered.promise;
      await expectMigrateError(other.loads.replaceStore(qualified, held, inBatches([], 1), { lock: 'no-wait' }), 'E_LOCKED', 'alice/notes x');
      expect(await other.loads.replaceStore(qualified, lookalike, inBatches(rowsOf(lookalike, 1, 'v1'), 1), { lock: 'no-wait' })).toEqual({ rowsLoaded: 1, rowsReplaced: 0 });
    } finally {
      gate.fire();
      await holder.catch(() => undefined);
      await other.close();
    }
  });

  it('no-wait fails with E_LOCKED while another session rewrites the table', async () => {
    const target = await freshTarget();
    const other: Sink = await openSink({ databaseUrl: TEST_DATABASE_URL, pgliteDir: '/nonexistent' });
    const inside = signal();
    const gate = signal();
    const rewrite = ctx.h.sink.transaction(target, async (session) => {
      await session.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 1, 'v1'), 1));
      inside.fire();
      await gate.promise;
    });
    try {
      await inside.promise;
      await expectMigrateError(other.loads.replaceStore(target, BOB, inBatches([], 1), { lock: 'no-wait' }), 'E_LOCKED', `${target.table} is being rewritten by another run`);
      await expectMigrateError(other.transaction(target, async () => undefined, { lock: 'no-wait' }), 'E_LOCKED', target.table);
    } finally {
      gate.fire();
      await rewrite.catch(() => undefined);
      await other.close();
    }
  });

  it('serializes two sinks applying the migrations at once', async () => {
    const schema = schemaOf(await freshTable());
    const sinks = await Promise.all([0, 1, 2].map(() => openSink({ databaseUrl: TEST_DATABASE_URL, pgliteDir: '/nonexistent' })));
    try {
      const tables = ['a', 'b', 'a'].map((n) => ctx.track(`${schema}.${n}`));
      await Promise.all(sinks.map((sink, i) => sink.schema.ensureSchema({ table: tables[i] as string, dimensions: DIMS })));
    } finally {
      await Promise.all(sinks.map((sink) => sink.close()));
    }
    const versions = await ctx.h.query<{ version: number }>(`SELECT version FROM "${schema}".pgvector_migrate_migrations ORDER BY version`);
    expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4]);
    expect(await tablesOf(schema)).toEqual(['a', 'a_previous', 'b', 'b_previous', 'migration_replacements', 'migration_runs', 'migration_stores', 'pgvector_migrate_migrations', 'reembed_jobs', 'vector_pca_components', 'vector_pca_means', 'vector_pca_models']);
  });
});

/** PGlite is one session in one process: its advisory locks never conflict (see locks.ts). */
describe('sink store locks (pglite)', () => {
  const ctx = useHarness('pglite');
  const { freshTarget } = tools(ctx);

  it('never reports E_LOCKED on PGlite: loads of one process queue instead', async () => {
    const target = await freshTarget();
    const entered = signal();
    const gate = signal();
    const first = ctx.h.sink.loads.replaceStore(target, ALICE, gated(rowsOf(ALICE, 2, 'first'), entered.fire, gate.promise));
    try {
      await entered.promise;
      let waits = 0;
      const second = ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 3, 'second'), 3), { lock: 'no-wait', onWait: () => waits++ });
      await new Promise((resolve) => setTimeout(resolve, 200));
      gate.fire();
      expect(await first).toEqual({ rowsLoaded: 2, rowsReplaced: 0 });
      expect(await second).toEqual({ rowsLoaded: 3, rowsReplaced: 2 });
      expect(waits).toBe(0);
    } finally {
      gate.fire();
      await first.catch(() => undefined);
    }
  });

});
