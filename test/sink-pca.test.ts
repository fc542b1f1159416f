/**
 * PCA models in the database, pca_model_id on rows, and transactions spanning several stores and a
 * model, run identically against PostgreSQL (pg) and PGlite. Each test works in its own schema,
 * so each has its own `vector_pca_models` table.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MigrateError } from '../src/errors.js';
import { openSink } from '../src/sink/index.js';
import type { DocumentRow, NewPcaModel, PcaModelRecord, Sink, TargetSpec } from '../src/sink/types.js';
import {
  countByStore,
  DRIVERS,
  expectMigrateError,
  inBatches,
  makeRow,
  makeRows,
  quoted,
  TEST_DATABASE_URL,
  uniqueTable,
  useHarness,
  vectorFor,
} from './helpers/db.js';

const DIMS = 4;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A model with awkward floats everywhere (signed zeros, subnormals, extremes), all finite. */
function makeModel(table: string, source: number, target: number, seed: number, evaluationRows = 3): NewPcaModel {
  const mean = vectorFor(seed, source + 1).subarray(1); // a view at byte offset 4
  mean[0] = -0;
  if (source > 2) {
    mean[1] = 1.401298464324817e-45;
    mean[2] = -3.4028234663852886e38;
  }
  const components = new Float32Array(target * source);
  for (let j = 0; j < target; j++) components.set(vectorFor(seed * 31 + j, source), j * source);
  const explainedVariance = Float64Array.from({ length: target }, (_, j) => (target - j) * (0.1 + 0.2));
  explainedVariance[target - 1] = 5e-324;
  return {
    table,
    sourceDimensions: source,
    targetDimensions: target,
    mean,
    components,
    explainedVariance,
    totalVariance: 12.345678901234567,
    sampleSize: 1000 + seed,
    method: 'covariance-eigh',
    fit: { seed, sampling: 'uniform reservoir', nested: { list: [1, 'two', null, true], unicode: 'é漢🦄' }, fitMs: 12.5 },
    evaluation: vectorFor(seed + 7, evaluationRows * source),
    evaluationRows,
  };
}

function sameBits(a: Float32Array | Float64Array, b: Float32Array | Float64Array): boolean {
  return a.constructor === b.constructor && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function expectSameModel(record: PcaModelRecord | null, model: NewPcaModel, id?: string): void {
  expect(record).not.toBeNull();
  const r = record as PcaModelRecord;
  if (id !== undefined) expect(r.id).toBe(id);
  expect(r.id).toMatch(UUID);
  expect(new Date(r.createdAt).toISOString()).toBe(r.createdAt);
  expect({ ...r, mean: null, components: null, explainedVariance: null, evaluation: null, id: null, createdAt: null }).toEqual({
    ...model,
    mean: null,
    components: null,
    explainedVariance: null,
    evaluation: null,
    id: null,
    createdAt: null,
  });
  for (const key of ['mean', 'components', 'explainedVariance', 'evaluation'] as const) {
    expect(sameBits(r[key], model[key]), key).toBe(true);
  }
}

describe.each(DRIVERS)('sink PCA models and transactions (%s)', (driver) => {
  const ctx = useHarness(driver);

  /** `schema.docs` in a fresh schema (created here unless `create` is false); dropped after the test. */
  async function freshTable(create = true, name = 'docs'): Promise<{ schema: string; table: string }> {
    const schema = uniqueTable('sink_pca');
    if (create) await ctx.h.query(`CREATE SCHEMA "${schema}"`);
    ctx.track(`${schema}.${name}`);
    return { schema, table: `${schema}.${name}` };
  }

  async function freshTarget(dimensions = DIMS): Promise<TargetSpec> {
    const { table } = await freshTable();
    const target = { table, dimensions };
    await ctx.h.sink.schema.ensureSchema(target);
    return target;
  }

  async function rowsOf(table: string): Promise<{ id: string; text: string; embedding: string; pca: string | null }[]> {
    return ctx.h.query(`SELECT id::text AS id, text, embedding::text AS embedding, pca_model_id::text AS pca FROM ${quoted(table)} ORDER BY id`);
  }

  it('saves a model and reads it back bit for bit (3072 → 256)', async () => {
    const target = await freshTarget(256);
    const model = makeModel(target.table, 3072, 256, 1, 5);
    const saved = await ctx.h.sink.pcaModels.save(model);
    expectSameModel(saved, model);

    expectSameModel(await ctx.h.sink.pcaModels.active({ table: target.table }), model, saved.id);
    expectSameModel(await ctx.h.sink.pcaModels.active(target), model, saved.id);
    expectSameModel(await ctx.h.sink.pcaModels.byId(target.table, saved.id), model, saved.id);
    expect((await ctx.h.sink.pcaModels.active(target))?.createdAt).toBe(saved.createdAt);
    expect((await ctx.h.sink.schema.inspect(target)).activePcaModelId).toBe(saved.id);

    // Kept in the documents table's schema, keyed by the unqualified table name; the variances
    // are plain float8 for SQL.
    const [schema] = target.table.split('.');
    const stored = await ctx.h.query<{ table_name: string; active: boolean; mean_bytes: number; n: number; share: number }>(
      `SELECT table_name, active, octet_length(mean) AS mean_bytes, cardinality(explained_variance) AS n,
              (SELECT sum(x) FROM unnest(explained_variance) AS x) / total_variance AS share
       FROM "${schema}"."vector_pca_models"`,
    );
    const share = model.explainedVariance.reduce((a, b) => a + b, 0) / model.totalVariance;
    expect(stored).toEqual([{ table_name: 'docs', active: true, mean_bytes: 3072 * 4, n: 256, share: expect.closeTo(share, 12) as number }]);

    // Still exact when the session prints floats with fewer digits (extra_float_digits = 0 makes
    // float8 text output round to 15 significant digits).
    if (driver === 'pg') {
      const url = new URL(TEST_DATABASE_URL);
      url.searchParams.set('options', '-c extra_float_digits=0');
      const terse = await openSink({ databaseUrl: url.toString(), pgliteDir: '/nonexistent', readOnly: true });
      try {
        expectSameModel(await terse.pcaModels.active(target), model, saved.id);
      } finally {
        await terse.close();
      }
    } else {
      await ctx.h.query('SET extra_float_digits = 0');
      try {
        expect((await ctx.h.query<{ t: string }>('SELECT (0.1::float8 + 0.2::float8)::text AS t'))[0]?.t).toBe('0.3');
        expectSameModel(await ctx.h.sink.pcaModels.active(target), model, saved.id);
      } finally {
        await ctx.h.query('RESET extra_float_digits');
      }
    }
  });

  it('keeps one active model per table, and every older one by id', async () => {
    const target = await freshTarget();
    const [schema] = target.table.split('.');
    const other = { table: `${schema}.other`, dimensions: DIMS };
    ctx.track(other.table);
    await ctx.h.sink.schema.ensureSchema(other);

    const a = await ctx.h.sink.pcaModels.save(makeModel(target.table, 6, DIMS, 1));
    const b = await ctx.h.sink.pcaModels.save(makeModel(target.table, 6, DIMS, 2));
    const c = await ctx.h.sink.pcaModels.save(makeModel(other.table, 5, DIMS, 3));
    expect(new Set([a.id, b.id, c.id]).size).toBe(3);
    expect((await ctx.h.sink.pcaModels.active(target))?.id).toBe(b.id);
    expect((await ctx.h.sink.pcaModels.active(other))?.id).toBe(c.id);
    expectSameModel(await ctx.h.sink.pcaModels.byId(target, a.id), makeModel(target.table, 6, DIMS, 1), a.id);
    // Ids are per table: another table's model is not found through this one.
    expect(await ctx.h.sink.pcaModels.byId(target, c.id)).toBeNull();
    expect(await ctx.h.sink.pcaModels.byId(target, '00000000-0000-0000-0000-000000000000')).toBeNull();
    await expectMigrateError(ctx.h.sink.pcaModels.byId(target, 'not-a-uuid'), 'E_USAGE', 'not-a-uuid');

    const active = await ctx.h.query<{ table_name: string; n: number }>(
      `SELECT table_name, count(*) FILTER (WHERE active)::int AS n FROM "${schema}".vector_pca_models GROUP BY 1 ORDER BY 1`,
    );
    expect(active).toEqual([
      { table_name: 'docs', n: 1 },
      { table_name: 'other', n: 1 },
    ]);
    // The partial unique index holds even against a hand-made second active model.
    await expect(ctx.h.query(`UPDATE "${schema}".vector_pca_models SET active = true WHERE id = $1`, [a.id])).rejects.toThrow(/unique/i);
  });

  it('reads without a models table and creates nothing (dry run)', async () => {
    const { schema, table } = await freshTable();
    const target = { table, dimensions: DIMS };
    expect(await ctx.h.sink.pcaModels.active({ table })).toBeNull();
    expect(await ctx.h.sink.pcaModels.byId(table, '00000000-0000-0000-0000-000000000000')).toBeNull();
    expect(await ctx.h.sink.reads.listStoreKeys(target)).toEqual([]);
    expect(await ctx.h.sink.schema.inspect(target)).toMatchObject({ tableExists: false, tableVectorType: null, activePcaModelId: null });
    const left = await ctx.h.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`, [schema]);
    expect(left[0]?.n).toBe(0);

    // A read-only sink (what a dry run opens): reads work, writes are refused before any SQL.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pgvm-pca-ro-'));
    const missingDir = path.join(dir, 'absent');
    const reader: Sink =
      driver === 'pg'
        ? await openSink({ databaseUrl: TEST_DATABASE_URL, pgliteDir: '/nonexistent', readOnly: true })
        : await openSink({ pgliteDir: missingDir, readOnly: true });
    try {
      // A schema that does not exist at all: no models table can be found, none is created.
      const nowhere = { table: `${uniqueTable('sink_pca_none')}.docs`, dimensions: DIMS };
      expect(await reader.pcaModels.active(nowhere)).toBeNull();
      // (On pg, public's models table is shared with whatever else uses the test database.)
      if (driver === 'pglite') expect(await reader.pcaModels.active({ table: 'docs' })).toBeNull();
      expect(await reader.reads.listStoreKeys(nowhere)).toEqual([]);
      expect((await reader.schema.inspect(nowhere)).activePcaModelId).toBeNull();
      await expectMigrateError(reader.pcaModels.save(makeModel(table, 6, DIMS, 1)), 'E_USAGE', 'read-only');
      await expectMigrateError(reader.transaction(target, async () => 'never'), 'E_USAGE', 'read-only');
      if (driver === 'pg') {
        // Read-only sessions still read an existing model.
        const written = await freshTarget();
        const saved = await ctx.h.sink.pcaModels.save(makeModel(written.table, 6, DIMS, 4));
        expect((await reader.pcaModels.active(written))?.id).toBe(saved.id);
        expect((await reader.schema.inspect(written)).activePcaModelId).toBe(saved.id);
      }
    } finally {
      await reader.close();
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
    if (driver === 'pglite') expect(existsSync(missingDir)).toBe(false);
  });

  it('refuses to save a model without the schema, of another dimension, or inconsistent', async () => {
    const { table } = await freshTable();
    await expectMigrateError(ctx.h.sink.pcaModels.save(makeModel(table, 6, DIMS, 1)), 'E_SCHEMA', 'vector_pca_models', 'ensureSchema');
    await ctx.h.sink.schema.ensureSchema({ table, dimensions: DIMS });
    await expectMigrateError(ctx.h.sink.pcaModels.save(makeModel(table, 6, 3, 1)), 'E_DIM_MISMATCH', '3', `vector(${DIMS})`);
    await expectMigrateError(ctx.h.sink.pcaModels.save({ ...makeModel(table, 6, DIMS, 1), components: new Float32Array(5) }), 'E_INTERNAL', 'components');
    await expectMigrateError(ctx.h.sink.pcaModels.save(makeModel('Bad-Name', 6, DIMS, 1)), 'E_USAGE');
    await expectMigrateError(ctx.h.sink.pcaModels.save(makeModel('vector_pca_models', 6, DIMS, 1)), 'E_USAGE', 'reserved');
    expect(await ctx.h.sink.pcaModels.active({ table })).toBeNull();
  });

  it('commits two stores and a new model together in one transaction', async () => {
    const target = await freshTarget();
    const m1 = await ctx.h.sink.pcaModels.save(makeModel(target.table, 6, DIMS, 1));
    const withModel = (rows: DocumentRow[], id: string) => rows.map((r) => ({ ...r, pcaModelId: id }));
    await ctx.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(withModel(makeRows('alice', 'notes', 3, DIMS), m1.id), 2));
    await ctx.h.sink.loads.replaceStore(target, { userId: 'bob', collection: 'notes' }, inBatches(withModel(makeRows('bob', 'notes', 2, DIMS), m1.id), 2));

    const model2 = makeModel(target.table, 6, DIMS, 2);
    const results = await ctx.h.sink.transaction(target, async (session) => {
      const m2 = await session.pcaModels.save(model2);
      const a = await session.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(withModel(makeRows('alice', 'notes', 4, DIMS), m2.id), 3));
      const b = await session.loads.replaceStore(target, { userId: 'bob', collection: 'notes' }, inBatches(withModel(makeRows('bob', 'notes', 1, DIMS), m2.id), 3));
      if (driver === 'pg') {
        // Nothing is visible outside the transaction before it commits.
        expect((await ctx.h.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${quoted(target.table)} WHERE pca_model_id = $1`, [m2.id]))[0]?.n).toBe(0);
      }
      return { m2, a, b };
    });
    expect(results.a).toEqual({ rowsLoaded: 4, rowsReplaced: 3 });
    expect(results.b).toEqual({ rowsLoaded: 1, rowsReplaced: 2 });
    expectSameModel(await ctx.h.sink.pcaModels.active(target), model2, results.m2.id);
    expect(await countByStore(ctx.h, target.table)).toEqual({ 'alice/notes': 4, 'bob/notes': 1 });
    expect(new Set((await rowsOf(target.table)).map((r) => r.pca))).toEqual(new Set([results.m2.id]));
    // The old model stays, inactive, for rows that might still name it.
    expect((await ctx.h.sink.pcaModels.byId(target, m1.id))?.id).toBe(m1.id);
    expect(await ctx.h.sink.reads.listStoreKeys(target)).toEqual([
      { userId: 'alice', collection: 'notes' },
      { userId: 'bob', collection: 'notes' },
    ]);
  });

  it("rolls back every store and the model when the second store's batches throw", async () => {
    const target = await freshTarget();
    const m1 = await ctx.h.sink.pcaModels.save(makeModel(target.table, 6, DIMS, 1));
    await ctx.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(makeRows('alice', 'notes', 3, DIMS).map((r) => ({ ...r, pcaModelId: m1.id })), 2));
    await ctx.h.sink.loads.replaceStore(target, { userId: 'bob', collection: 'notes' }, inBatches(makeRows('bob', 'notes', 2, DIMS).map((r) => ({ ...r, pcaModelId: m1.id })), 2));
    const before = await rowsOf(target.table);

    let m2: PcaModelRecord | undefined;
    let aliceResult: unknown;
    async function* failing(id: string): AsyncGenerator<DocumentRow[]> {
      yield makeRows('bob', 'notes', 5, DIMS).map((r) => ({ ...r, text: 'new', pcaModelId: id }));
      throw new Error('embedder crashed on bob');
    }
    await expectMigrateError(
      ctx.h.sink.transaction(target, async (session) => {
        m2 = await session.pcaModels.save(makeModel(target.table, 6, DIMS, 2));
        aliceResult = await session.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(makeRows('alice', 'notes', 1, DIMS).map((r) => ({ ...r, pcaModelId: m2?.id })), 1));
        return session.loads.replaceStore(target, { userId: 'bob', collection: 'notes' }, failing(m2.id));
      }),
      'E_LOAD',
      'embedder crashed on bob',
      'bob/notes',
    );
    expect(aliceResult).toEqual({ rowsLoaded: 1, rowsReplaced: 3 });
    expect(await rowsOf(target.table)).toEqual(before);
    expect((await ctx.h.sink.pcaModels.active(target))?.id).toBe(m1.id);
    expect(m2?.id).toMatch(UUID);
    expect(await ctx.h.sink.pcaModels.byId(target, m2?.id ?? '')).toBeNull();
    expect((await ctx.h.sink.schema.inspect(target)).activePcaModelId).toBe(m1.id);

    // Healthy afterwards, staging table gone.
    expect(await ctx.h.sink.loads.replaceStore(target, { userId: 'bob', collection: 'notes' }, inBatches(makeRows('bob', 'notes', 1, DIMS), 1))).toEqual({ rowsLoaded: 1, rowsReplaced: 2 });
    const staging = await ctx.h.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'pgvector_migrate_staging'`);
    expect(staging[0]?.n).toBe(0);
  });

  it('rolls back when the function throws, or swallows a failed operation; guards misuse', async () => {
    const target = await freshTarget();
    const m1 = await ctx.h.sink.pcaModels.save(makeModel(target.table, 6, DIMS, 1));
    await ctx.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(makeRows('u', 'c', 2, DIMS), 2));
    const before = await rowsOf(target.table);

    await expectMigrateError(
      ctx.h.sink.transaction(target, async (session) => {
        await session.pcaModels.save(makeModel(target.table, 6, DIMS, 2));
        await session.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches([], 1));
        throw new Error('the pipeline gave up');
      }),
      'E_LOAD',
      'the pipeline gave up',
    );
    await expectMigrateError(
      ctx.h.sink.transaction(target, async (session) => {
        await session.pcaModels.save(makeModel(target.table, 6, DIMS, 3));
        await session.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches([], 1));
        // A store of the wrong dimension fails; catching its error does not let the rest commit.
        await session.loads.replaceStore(target, { userId: 'u', collection: 'd' }, inBatches([makeRow('u', 'd', 0, DIMS + 1)], 1)).catch(() => undefined);
        await expectMigrateError(session.loads.replaceStore(target, { userId: 'u', collection: 'e' }, inBatches([], 1)), 'E_INTERNAL', 'earlier operation');
        return 'ignored';
      }),
      'E_DIM_MISMATCH',
      'u/d',
    );
    expect(await rowsOf(target.table)).toEqual(before);
    expect((await ctx.h.sink.pcaModels.active(target))?.id).toBe(m1.id);

    let leaked: Parameters<Parameters<Sink['transaction']>[1]>[0] | undefined;
    await expectMigrateError(
      ctx.h.sink.transaction(target, async (session) => {
        leaked = session;
        // Two operations at once on one connection: the second is refused.
        const first = session.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(makeRows('u', 'c', 1, DIMS), 1));
        const second = session.pcaModels.save(makeModel(target.table, 6, DIMS, 4));
        await expectMigrateError(second, 'E_INTERNAL', 'one after another');
        await first;
        throw new MigrateError('E_USAGE', 'stop here');
      }),
      'E_USAGE',
      'stop here',
    );
    await expectMigrateError(leaked?.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches([], 1)) ?? Promise.resolve(), 'E_INTERNAL', 'has ended');
    expect(await rowsOf(target.table)).toEqual(before);

    const { table: missing } = await freshTable();
    await expectMigrateError(ctx.h.sink.transaction({ table: missing, dimensions: DIMS }, async () => 'never'), 'E_SCHEMA', 'does not exist');
  });

  it('makes loads of the same table wait while a transaction rewrites it', async () => {
    const target = await freshTarget();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered: () => void = () => undefined;
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const order: string[] = [];
    const rewrite = ctx.h.sink.transaction(target, async (session) => {
      await session.loads.replaceStore(target, { userId: 'a', collection: 'c' }, inBatches(makeRows('a', 'c', 2, DIMS), 2));
      entered();
      await gate;
      order.push('transaction');
    });
    try {
      await inside;
      const load = ctx.h.sink.loads.replaceStore(target, { userId: 'b', collection: 'c' }, inBatches(makeRows('b', 'c', 1, DIMS), 1)).then((r) => {
        order.push('load');
        return r;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(order).toEqual([]);
      release();
      await rewrite;
      expect(await load).toEqual({ rowsLoaded: 1, rowsReplaced: 0 });
    } finally {
      // Never leave the transaction open (it would block the cleanup) if an expectation failed.
      release();
      await rewrite.catch(() => undefined);
    }
    expect(order).toEqual(['transaction', 'load']);
    expect(await countByStore(ctx.h, target.table)).toEqual({ 'a/c': 2, 'b/c': 1 });
  });

  it('adds pca_model_id to a table created by the previous version, once', async () => {
    const { table } = await freshTable();
    // The previous version's DDL: no pca_model_id, no models table.
    await ctx.h.query(`CREATE EXTENSION IF NOT EXISTS vector`);
    await ctx.h.query(`CREATE TABLE ${quoted(table)} (
      id uuid PRIMARY KEY, user_id varchar(255) NOT NULL, collection_name varchar(255) NOT NULL, text text NOT NULL,
      embedding vector(${DIMS}) NOT NULL, metadata jsonb DEFAULT '{}', created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(),
      content_sha256 char(64) NOT NULL, embedding_model text NOT NULL, source_index integer NOT NULL)`);
    await ctx.h.query(
      `INSERT INTO ${quoted(table)} (id, user_id, collection_name, text, embedding, content_sha256, embedding_model, source_index)
       VALUES ('11111111-1111-1111-1111-111111111111', 'old', 'c', 'legacy row', '[1,2,3,4]', repeat('a', 64), 'm', 0)`,
    );
    const target = { table, dimensions: DIMS };

    // Inspecting it is fine (a dry run must not fail on it); loading before ensureSchema is not.
    expect(await ctx.h.sink.schema.inspect(target)).toMatchObject({ tableExists: true, tableDimensions: DIMS, tableVectorType: 'vector', activePcaModelId: null });
    await expectMigrateError(ctx.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(makeRows('u', 'c', 1, DIMS), 1)), 'E_SCHEMA', 'pca_model_id', 'ensureSchema');

    await ctx.h.sink.schema.ensureSchema(target);
    await ctx.h.sink.schema.ensureSchema(target);
    const cols = await ctx.h.query<{ t: string }>(`SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'pca_model_id'`, [quoted(table)]);
    expect(cols).toEqual([{ t: 'uuid' }]);
    const fks = await ctx.h.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'f'`, [quoted(table)]);
    expect(fks[0]?.n).toBe(1);

    const m = await ctx.h.sink.pcaModels.save(makeModel(table, 6, DIMS, 1));
    await ctx.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(makeRows('u', 'c', 2, DIMS).map((r) => ({ ...r, pcaModelId: m.id })), 2));
    const rows = await ctx.h.query<{ user_id: string; text: string; pca: string | null }>(`SELECT user_id, text, pca_model_id::text AS pca FROM ${quoted(table)} ORDER BY user_id, source_index`);
    expect(rows).toEqual([
      { user_id: 'old', text: 'legacy row', pca: null },
      { user_id: 'u', text: 'u/c entry 0', pca: m.id },
      { user_id: 'u', text: 'u/c entry 1', pca: m.id },
    ]);
  });

  it("keeps each row's pca_model_id and refuses an unknown one", async () => {
    const target = await freshTarget();
    const m = await ctx.h.sink.pcaModels.save(makeModel(target.table, 6, DIMS, 1));
    const rows = makeRows('ü 🦄', 'c', 4, DIMS).map((r, i) => (i % 2 === 0 ? { ...r, pcaModelId: m.id } : i === 1 ? { ...r, pcaModelId: null } : r));
    await ctx.h.sink.loads.replaceStore(target, { userId: 'ü 🦄', collection: 'c' }, inBatches(rows, 3));
    const back = await ctx.h.query<{ pca: string | null }>(`SELECT pca_model_id::text AS pca FROM ${quoted(target.table)} ORDER BY source_index`);
    expect(back.map((r) => r.pca)).toEqual([m.id, null, m.id, null]);

    const before = await rowsOf(target.table);
    const unknown = makeRows('ü 🦄', 'c', 2, DIMS).map((r) => ({ ...r, pcaModelId: '99999999-9999-4999-8999-999999999999' }));
    const error = await expectMigrateError(ctx.h.sink.loads.replaceStore(target, { userId: 'ü 🦄', collection: 'c' }, inBatches(unknown, 2)), 'E_LOAD', 'ü 🦄/c');
    expect(error.message).toMatch(/foreign key/i);
    expect(await rowsOf(target.table)).toEqual(before);
    expect(await ctx.h.sink.reads.listStoreKeys(target)).toEqual([{ userId: 'ü 🦄', collection: 'c' }]);
  });

  it('lists the distinct stores of a table', async () => {
    const target = await freshTarget();
    expect(await ctx.h.sink.reads.listStoreKeys(target)).toEqual([]);
    expect(await ctx.h.sink.reads.listStoreKeys({ table: uniqueTable('sink_pca_absent') })).toEqual([]);
    for (const [user, coll, n] of [
      ['bob', 'b', 2],
      ['alice', 'z', 1],
      ['alice', 'a', 3],
    ] as const) {
      await ctx.h.sink.loads.replaceStore(target, { userId: user, collection: coll }, inBatches(makeRows(user, coll, n, DIMS), 2));
    }
    expect(await ctx.h.sink.reads.listStoreKeys({ table: target.table })).toEqual([
      { userId: 'alice', collection: 'a' },
      { userId: 'alice', collection: 'z' },
      { userId: 'bob', collection: 'b' },
    ]);
  });
});
