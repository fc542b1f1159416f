/**
 * The Sink contract, run identically against PostgreSQL (pg) and PGlite.
 */
import { describe, expect, it } from 'vitest';
import { MigrateError } from '../src/errors.js';
import type { DocumentRow, TargetSpec } from '../src/sink/types.js';
import { countByStore, DRIVERS, expectMigrateError, inBatches, makeRow, makeRows, uniqueTable, useHarness, vectorFor } from './helpers/db.js';

const DIMS = 8;

describe.each(DRIVERS)('sink (%s)', (driver) => {
  const harness = useHarness(driver);

  /** A fresh, uniquely named target; dropped after the test. */
  function freshTarget(dimensions = DIMS, name = uniqueTable()): TargetSpec {
    return { table: harness.track(name), dimensions };
  }

  it('reports the server, pgvector and a missing table', async () => {
    const target = freshTarget();
    const info = await harness.h.sink.schema.inspect(target);
    expect(info.driver).toBe(driver);
    expect(info.serverVersion).toMatch(/^\d+/);
    expect(info.pgvectorVersion).toMatch(/^0\.\d+\.\d+/);
    expect(info).toMatchObject({ tableExists: false, tableDimensions: null, tableVectorType: null, activePcaModelId: null, willBeCreated: false });
    expect(harness.h.sink.driver).toBe(driver);
  });

  it('creates the schema idempotently (twice) with both indexes', async () => {
    const target = freshTarget();
    await harness.h.sink.schema.ensureSchema(target);
    await harness.h.sink.schema.ensureSchema(target);
    const info = await harness.h.sink.schema.inspect(target);
    expect(info).toMatchObject({ tableExists: true, tableDimensions: DIMS, tableVectorType: 'vector', activePcaModelId: null, pgvectorInstalled: true });
    const indexes = await harness.h.query<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname', [target.table]);
    expect(indexes).toHaveLength(3);
    expect(indexes.map((i) => i.indexdef).join('\n')).toMatch(/USING hnsw \(embedding vector_cosine_ops\)/);
    expect(indexes.map((i) => i.indexdef).join('\n')).toMatch(/\(user_id, collection_name\)/);
    const cols = await harness.h.query<{ column_name: string; data_type: string }>(
      'SELECT column_name::text, format_type(atttypid, atttypmod) AS data_type FROM pg_attribute a JOIN information_schema.columns c ON c.column_name = a.attname::text AND c.table_name = $1 WHERE a.attrelid = to_regclass($2) AND a.attnum > 0 ORDER BY a.attnum',
      [target.table, `"${target.table}"`],
    );
    expect(Object.fromEntries(cols.map((c) => [c.column_name, c.data_type]))).toEqual({
      id: 'uuid',
      user_id: 'character varying(255)',
      collection_name: 'character varying(255)',
      text: 'text',
      embedding: `vector(${DIMS})`,
      metadata: 'jsonb',
      created_at: 'timestamp with time zone',
      updated_at: 'timestamp with time zone',
      content_sha256: 'character(64)',
      embedding_model: 'text',
      source_index: 'integer',
      pca_model_id: 'uuid',
      embedding_fingerprint: 'text',
    });
    // pca_model_id references the models table of the same schema, once (the second run added nothing).
    const fks = await harness.h.query<{ def: string }>(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'f'`, [`"${target.table}"`]);
    expect(fks.map((f) => f.def)).toEqual(['FOREIGN KEY (pca_model_id) REFERENCES vector_pca_models(id)']);
  });

  it('supports schema-qualified and 63-character table names', async () => {
    const schema = uniqueTable('sink_schema');
    await harness.h.query(`CREATE SCHEMA "${schema}"`);
    const qualified = freshTarget(DIMS, `${schema}.docs`);
    await harness.h.sink.schema.ensureSchema(qualified);
    await harness.h.sink.loads.replaceStore(qualified, { userId: 'u', collection: 'c' }, inBatches(makeRows('u', 'c', 3, DIMS), 2));
    expect(await countByStore(harness.h, qualified.table)).toEqual({ 'u/c': 3 });

    const long = freshTarget(DIMS, uniqueTable('x'.repeat(52)));
    expect(long.table).toHaveLength(63);
    await harness.h.sink.schema.ensureSchema(long);
    const indexes = await harness.h.query<{ indexname: string }>('SELECT indexname::text FROM pg_indexes WHERE tablename = $1', [long.table]);
    expect(indexes).toHaveLength(3);
    expect(new Set(indexes.map((i) => i.indexname)).size).toBe(3);
  });

  it('refuses a table of another dimension before writing anything', async () => {
    const target = freshTarget(3);
    await harness.h.sink.schema.ensureSchema(target);
    await harness.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(makeRows('u', 'c', 2, 3), 10));
    const other = { table: target.table, dimensions: 4 };

    const info = await harness.h.sink.schema.inspect(other);
    expect(info).toMatchObject({ tableExists: true, tableDimensions: 3 });
    await expectMigrateError(harness.h.sink.schema.ensureSchema(other), 'E_DIM_MISMATCH', target.table, '3', '4');
    await expectMigrateError(
      harness.h.sink.loads.replaceStore(other, { userId: 'u', collection: 'c' }, inBatches(makeRows('u', 'c', 5, 4), 10)),
      'E_DIM_MISMATCH',
      target.table,
    );
    expect(await countByStore(harness.h, target.table)).toEqual({ 'u/c': 2 });
    const [col] = await harness.h.query<{ t: string }>(`SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'embedding'`, [`"${target.table}"`]);
    expect(col?.t).toBe('vector(3)');
  });

  it('refuses rows whose vectors do not match the target dimension', async () => {
    const target = freshTarget(3);
    await harness.h.sink.schema.ensureSchema(target);
    const rows = [makeRow('u', 'c', 0, 3), makeRow('u', 'c', 1, 5)];
    await expectMigrateError(harness.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(rows, 1)), 'E_DIM_MISMATCH', 'row 1', '5');
    expect(await countByStore(harness.h, target.table)).toEqual({});
  });

  it('refuses a table that lacks the required columns (E_SCHEMA)', async () => {
    const target = freshTarget(3);
    await harness.h.query(`CREATE EXTENSION IF NOT EXISTS vector`);
    await harness.h.query(`CREATE TABLE "${target.table}" (id uuid PRIMARY KEY, user_id varchar(255), embedding vector(3))`);
    await expectMigrateError(harness.h.sink.schema.inspect(target), 'E_SCHEMA', target.table, 'content_sha256');
    await expectMigrateError(harness.h.sink.schema.ensureSchema(target), 'E_SCHEMA', 'collection_name');
    await expectMigrateError(harness.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches([], 1)), 'E_SCHEMA');
  });

  it('refuses to load into a table that does not exist', async () => {
    const target = freshTarget();
    await expectMigrateError(harness.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(makeRows('u', 'c', 1, DIMS), 1)), 'E_SCHEMA', 'does not exist');
  });

  it('round-trips tricky values exactly through binary COPY', async () => {
    const target = freshTarget(6);
    await harness.h.sink.schema.ensureSchema(target);
    const texts = [
      'tab\there\tand\tthere',
      'new\nline\r\nand carriage\rreturn',
      'back\\slash \\N \\. \\\\ and \\t literally',
      '\\.\n\\.',
      'quotes "double" \'single\' `back`',
      'emoji 🦄 👩‍👩‍👧‍👦 and CJK 漢字 and RTL مرحبا',
      '',
      'NULL',
      `${'x'.repeat(100 * 1024)}é`,
      '\u2028\u2029 separators and \u00a0 nbsp',
    ];
    const metadata = [
      { nested: { deep: [1, 2, { three: 'drei', list: [null, true, false] }] }, unicode: 'é漢🦄', quote: '"\\' },
      { tab: '\t', nl: '\n', cr: '\r', bs: '\\', ls: '\u2028' },
      {},
      { n: 1.5, big: 12345678901234, neg: -0.25, arr: [] },
    ];
    const special = new Float32Array([0, -0, 1 / 3, 3.4e38, -1.4e-45, 1.17549435e-38]);
    const rows: DocumentRow[] = texts.map((text, i) =>
      makeRow('ü-user 🦄', 'coll\twith\ttabs', i, 6, {
        text,
        metadataJson: JSON.stringify(metadata[i % metadata.length]),
        embedding: i === 0 ? special : vectorFor(i, 6),
        contentSha256: String(i).padStart(64, 'f'),
        embeddingModel: `model-"${i}"`,
        sourceIndex: i * 1000 - 1,
      }),
    );
    const result = await harness.h.sink.loads.replaceStore(target, { userId: 'ü-user 🦄', collection: 'coll\twith\ttabs' }, inBatches(rows, 3));
    expect(result).toEqual({ rowsLoaded: rows.length, rowsReplaced: 0 });

    const back = await harness.h.query<{
      id: string;
      user_id: string;
      collection_name: string;
      text: string;
      embedding: number[];
      metadata: unknown;
      content_sha256: string;
      embedding_model: string;
      source_index: number;
      stamped: boolean;
    }>(
      `SELECT id::text, user_id, collection_name, text, embedding::real[] AS embedding, metadata, content_sha256, embedding_model, source_index,
              (created_at IS NOT NULL AND updated_at IS NOT NULL) AS stamped
       FROM "${target.table}" ORDER BY source_index`,
    );
    expect(back).toHaveLength(rows.length);
    back.forEach((r, i) => {
      const expected = rows[i] as DocumentRow;
      expect(r.id).toBe(expected.id);
      expect(r.user_id).toBe(expected.userId);
      expect(r.collection_name).toBe(expected.collection);
      expect(r.text).toBe(expected.text);
      expect(new Float32Array(r.embedding)).toEqual(expected.embedding);
      expect(r.metadata).toEqual(JSON.parse(expected.metadataJson));
      expect(r.content_sha256).toBe(expected.contentSha256);
      expect(r.embedding_model).toBe(expected.embeddingModel);
      expect(Number(r.source_index)).toBe(expected.sourceIndex);
      expect(r.stamped).toBe(true);
    });
    // -0 survives as -0, not just "equal to 0".
    expect(Object.is(back[0]?.embedding[1], -0)).toBe(true);
  });

  it('replaces one store and leaves the others untouched', async () => {
    const target = freshTarget();
    await harness.h.sink.schema.ensureSchema(target);
    await harness.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(makeRows('alice', 'notes', 5, DIMS), 2));
    await harness.h.sink.loads.replaceStore(target, { userId: 'bob', collection: 'notes' }, inBatches(makeRows('bob', 'notes', 3, DIMS), 2));
    await harness.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'other' }, inBatches(makeRows('alice', 'other', 2, DIMS), 2));
    const bobBefore = await harness.h.query(`SELECT id::text, text, embedding::text FROM "${target.table}" WHERE user_id = 'bob' ORDER BY id`);

    const replacement = makeRows('alice', 'notes', 4, DIMS).map((r) => ({ ...r, text: `${r.text} (v2)` }));
    const result = await harness.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(replacement, 3));
    expect(result).toEqual({ rowsLoaded: 4, rowsReplaced: 5 });
    expect(await countByStore(harness.h, target.table)).toEqual({ 'alice/notes': 4, 'alice/other': 2, 'bob/notes': 3 });
    const texts = await harness.h.query<{ text: string }>(`SELECT text FROM "${target.table}" WHERE user_id = 'alice' AND collection_name = 'notes' ORDER BY source_index`);
    expect(texts.map((t) => t.text)).toEqual(replacement.map((r) => r.text));
    expect(await harness.h.query(`SELECT id::text, text, embedding::text FROM "${target.table}" WHERE user_id = 'bob' ORDER BY id`)).toEqual(bobBefore);

    // An empty store replaces with nothing.
    expect(await harness.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'other' }, inBatches([], 10))).toEqual({ rowsLoaded: 0, rowsReplaced: 2 });
    expect(await countByStore(harness.h, target.table)).toEqual({ 'alice/notes': 4, 'bob/notes': 3 });
  });

  it('rolls back everything when the batches throw midway, and stays usable', async () => {
    const target = freshTarget();
    await harness.h.sink.schema.ensureSchema(target);
    const original = makeRows('alice', 'notes', 3, DIMS);
    await harness.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(original, 2));
    const before = await harness.h.query(`SELECT id::text, text, embedding::text, created_at FROM "${target.table}" ORDER BY id`);

    let yielded = 0;
    async function* failing(): AsyncGenerator<DocumentRow[]> {
      const fresh = makeRows('alice', 'notes', 10, DIMS).map((r) => ({ ...r, text: 'new' }));
      yield fresh.slice(0, 5);
      yielded++;
      yield fresh.slice(5, 10);
      yielded++;
      throw new Error('embedder crashed on batch 3');
    }
    await expectMigrateError(harness.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, failing()), 'E_LOAD', 'embedder crashed on batch 3', 'alice/notes');
    expect(yielded).toBe(2);
    expect(await harness.h.query(`SELECT id::text, text, embedding::text, created_at FROM "${target.table}" ORDER BY id`)).toEqual(before);

    // The connection (pg) / instance (PGlite) is healthy afterwards.
    const again = await harness.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(makeRows('alice', 'notes', 4, DIMS), 4));
    expect(again).toEqual({ rowsLoaded: 4, rowsReplaced: 3 });
  });

  it('keeps an upstream MigrateError code when the batches throw one', async () => {
    const target = freshTarget();
    await harness.h.sink.schema.ensureSchema(target);
    async function* failing(): AsyncGenerator<DocumentRow[]> {
      yield makeRows('u', 'c', 2, DIMS);
      throw new MigrateError('E_EMBED', 'model ran out of memory');
    }
    await expectMigrateError(harness.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, failing()), 'E_EMBED', 'model ran out of memory');
    expect(await countByStore(harness.h, target.table)).toEqual({});
  });

  it('rolls back when the database rejects a row (duplicate id, NUL byte)', async () => {
    const target = freshTarget();
    await harness.h.sink.schema.ensureSchema(target);
    const original = makeRows('u', 'c', 3, DIMS);
    await harness.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(original, 3));

    const duplicated = [...makeRows('u', 'c', 4, DIMS), makeRow('u', 'c', 0, DIMS)];
    const dup = await expectMigrateError(harness.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(duplicated, 2)), 'E_LOAD', 'u/c');
    expect(dup.message).toMatch(/duplicate key|unique/i);

    const nul = [makeRow('u', 'c', 0, DIMS, { text: 'bad\u0000byte' })];
    await expectMigrateError(harness.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(nul, 1)), 'E_LOAD');

    // A row of another user's store would escape the DELETE: refused before it is sent.
    const stray = [makeRow('u', 'c', 0, DIMS), makeRow('mallory', 'c', 1, DIMS)];
    await expectMigrateError(harness.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(stray, 1)), 'E_LOAD', 'mallory/c');

    expect(await countByStore(harness.h, target.table)).toEqual({ 'u/c': 3 });
    const staging = await harness.h.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'pgvector_migrate_staging'`);
    expect(staging[0]?.n).toBe(0);
  });

  it("searches one user's rows in distance order", async () => {
    const target = freshTarget(3);
    await harness.h.sink.schema.ensureSchema(target);
    const v = (x: number, y: number, z: number) => new Float32Array([x, y, z]);
    const row = (user: string, coll: string, i: number, e: Float32Array) => makeRow(user, coll, i, 3, { embedding: e, text: `${user}-${coll}-${i}` });
    await harness.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'a' }, inBatches([row('alice', 'a', 0, v(1, 0, 0)), row('alice', 'a', 1, v(1, 1, 0)), row('alice', 'a', 2, v(0, 1, 0))], 2));
    await harness.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'b' }, inBatches([row('alice', 'b', 0, v(1, 0.1, 0))], 2));
    await harness.h.sink.loads.replaceStore(target, { userId: 'bob', collection: 'a' }, inBatches([row('bob', 'a', 0, v(1, 0, 0)), row('bob', 'a', 1, v(1, 0.01, 0))], 2));

    const hits = await harness.h.sink.reads.search(target, { userId: 'alice', embedding: v(1, 0, 0), k: 10 });
    expect(hits.map((x) => x.text)).toEqual(['alice-a-0', 'alice-b-0', 'alice-a-1', 'alice-a-2']);
    expect(hits.every((x) => x.userId === 'alice')).toBe(true);
    const distances = hits.map((x) => x.distance);
    expect(distances).toEqual([...distances].sort((a, b) => a - b));
    expect(distances[0]).toBeCloseTo(0, 6);
    expect(distances[2]).toBeCloseTo(1 - Math.SQRT1_2, 6);
    expect(distances[3]).toBeCloseTo(1, 6);
    expect(hits[0]).toMatchObject({ collection: 'a', sourceIndex: 0, metadata: { index: 0, source: 'test' } });
    expect(hits[0]?.id).toMatch(/^[0-9a-f-]{36}$/);

    const inB = await harness.h.sink.reads.search(target, { userId: 'alice', collection: 'b', embedding: v(0, 1, 0), k: 10 });
    expect(inB.map((x) => x.text)).toEqual(['alice-b-0']);
    const top2 = await harness.h.sink.reads.search(target, { userId: 'alice', embedding: v(0, 1, 0), k: 2 });
    expect(top2.map((x) => x.text)).toEqual(['alice-a-2', 'alice-a-1']);
    expect(await harness.h.sink.reads.search(target, { userId: 'nobody', embedding: v(0, 1, 0), k: 2 })).toEqual([]);
    await expectMigrateError(harness.h.sink.reads.search(target, { userId: 'alice', embedding: v(0, 1, 0).subarray(0, 2), k: 2 }), 'E_DIM_MISMATCH');
    await expectMigrateError(harness.h.sink.reads.search(target, { userId: 'alice', embedding: v(0, 1, 0), k: 0 }), 'E_USAGE');
  });

  it.each([
    'bad-name',
    'robert"; DROP TABLE students; --',
    'a.b.c',
    '',
    '.docs',
    'Docs',
    '1docs',
    'x'.repeat(64),
    'docs ',
    'dócs',
  ])('refuses the table name %j with E_USAGE', async (table) => {
    const target = { table, dimensions: DIMS };
    await expectMigrateError(harness.h.sink.schema.inspect(target), 'E_USAGE');
    await expectMigrateError(harness.h.sink.schema.ensureSchema(target), 'E_USAGE');
    await expectMigrateError(harness.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches([], 1)), 'E_USAGE');
    await expectMigrateError(harness.h.sink.reads.search(target, { userId: 'u', embedding: new Float32Array(DIMS), k: 1 }), 'E_USAGE');
  });

  it.each([0, -1, 1.5, 16001, Number.NaN])('refuses the dimension %s with E_USAGE', async (dimensions) => {
    await expectMigrateError(harness.h.sink.schema.ensureSchema({ table: uniqueTable(), dimensions }), 'E_USAGE', 'dimension');
  });

  it('creates the table without the HNSW index above 2,000 dimensions', async () => {
    const target = freshTarget(2001);
    await harness.h.sink.schema.ensureSchema(target);
    const indexes = await harness.h.query<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE tablename = $1', [target.table]);
    expect(indexes).toHaveLength(2);
    expect((await harness.h.sink.schema.inspect(target)).tableDimensions).toBe(2001);
  });
});
