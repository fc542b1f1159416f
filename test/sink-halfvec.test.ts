/**
 * halfvec targets (float16 storage, HNSW up to 4,000 dimensions), run identically against
 * PostgreSQL (pg) and PGlite. Values read back are checked against two references that do not
 * use our encoder: PostgreSQL's own text cast `'[…]'::halfvec` of the same float32 values, and an
 * arithmetic float16 rounding (helpers/db.ts).
 */
import { describe, expect, it } from 'vitest';
import type { DocumentRow, TargetSpec, VectorType } from '../src/sink/types.js';
import { countByStore, DRIVERS, expectMigrateError, inBatches, makeRow, quoted, referenceFloat16, uniqueTable, useHarness, vectorFor } from './helpers/db.js';

/** The bits of a float32 array, for exact comparisons (-0 included). */
function bits(values: ArrayLike<number>): string {
  return Buffer.from(Float32Array.from(values).buffer).toString('hex');
}

/** Shortest text of a float32 that strtof reads back as the same float32 (exact decimal of the double). */
function vectorText(values: Float32Array): string {
  return `[${Array.from(values, (v) => (Object.is(v, -0) ? '-0' : String(v))).join(',')}]`;
}

describe.each(DRIVERS)('sink halfvec (%s)', (driver) => {
  const ctx = useHarness(driver);

  function freshTarget(dimensions: number, vectorType: VectorType = 'halfvec'): TargetSpec {
    return { table: ctx.track(uniqueTable('sink_half')), dimensions, vectorType };
  }

  async function indexDefs(table: string): Promise<string[]> {
    const rows = await ctx.h.query<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname', [table]);
    return rows.map((r) => r.indexdef);
  }

  it('creates halfvec(3000) with an HNSW halfvec_cosine_ops index, idempotently', async () => {
    const target = freshTarget(3000);
    await ctx.h.sink.schema.ensureSchema(target);
    await ctx.h.sink.schema.ensureSchema(target);
    expect(await ctx.h.sink.schema.inspect(target)).toMatchObject({ tableExists: true, tableDimensions: 3000, tableVectorType: 'halfvec', activePcaModelId: null });
    const [col] = await ctx.h.query<{ t: string }>(`SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'embedding'`, [quoted(target.table)]);
    expect(col?.t).toBe('halfvec(3000)');
    const defs = await indexDefs(target.table);
    expect(defs).toHaveLength(3);
    expect(defs.join('\n')).toMatch(/USING hnsw \(embedding halfvec_cosine_ops\)/);

    // Above 4,000 dimensions HNSW refuses halfvec too: the table is created without the index.
    const wide = freshTarget(4001);
    await ctx.h.sink.schema.ensureSchema(wide);
    expect((await indexDefs(wide.table)).join('\n')).not.toMatch(/hnsw/);
    expect((await ctx.h.sink.schema.inspect(wide)).tableVectorType).toBe('halfvec');
  });

  it('stores exactly what PostgreSQL itself makes of the float32 values (round to nearest even)', async () => {
    const special = new Float32Array([
      1 + 2 ** -11, // tie: rounds down to the even 1
      1 + 3 * 2 ** -11, // tie: rounds up to the even 1 + 2^-9
      2 ** -25, // tie between 0 and the smallest subnormal: 0
      3 * 2 ** -25, // tie between 1 and 2 subnormal units: 2
      1023.5 * 2 ** -24, // tie between the largest subnormal and the smallest normal: normal
      -0,
      65504,
      65519.99609375, // the largest float32 that still rounds to 65504
      -65504,
      1e-8, // underflows to 0
      6e-8, // nearest is the smallest subnormal
      0.1,
      -1 / 3,
      1.401298464324817e-45, // a float32 subnormal
    ]);
    const dims = special.length;
    const target = freshTarget(dims);
    await ctx.h.sink.schema.ensureSchema(target);
    const rows: DocumentRow[] = [makeRow('u', 'c', 0, dims, { embedding: special })];
    for (let i = 1; i < 6; i++) {
      // Spread over many binades: scaled pseudo-random values from 1e-7 to 6e4.
      const e = vectorFor(i, dims).map((v, j) => v * 2 ** ((i * 7 + j * 3) % 40 - 24));
      rows.push(makeRow('u', 'c', i, dims, { embedding: e }));
    }
    await ctx.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(rows, 4));

    const back = await ctx.h.query<{ v: number[]; t: string }>(`SELECT embedding::real[] AS v, embedding::text AS t FROM ${quoted(target.table)} ORDER BY source_index`);
    expect(back).toHaveLength(rows.length);
    for (const [i, row] of rows.entries()) {
      const [server] = await ctx.h.query<{ v: number[]; t: string }>('SELECT $1::halfvec::real[] AS v, $1::halfvec::text AS t', [vectorText(row.embedding)]);
      const stored = back[i];
      expect(bits(stored?.v ?? []), `row ${i} vs the server's text cast`).toBe(bits(server?.v ?? []));
      expect(stored?.t).toBe(server?.t);
      expect(bits(stored?.v ?? []), `row ${i} vs the reference rounding`).toBe(bits(Array.from(row.embedding, referenceFloat16)));
    }
    // real[] comes back as float4 text (shortest form), so compare as float32 bits.
    expect(bits(back[0]?.v ?? [])).toBe(bits([1, 1 + 2 ** -9, 0, 2 * 2 ** -24, 2 ** -14, -0, 65504, 65504, -65504, 0, 2 ** -24, 0.0999755859375, -0.333251953125, 0]));
    expect(Object.is(back[0]?.v[5], -0)).toBe(true);
  });

  it('round-trips 3,000-dimension rows and searches them through the halfvec operator', async () => {
    const dims = 3000;
    const target = freshTarget(dims);
    await ctx.h.sink.schema.ensureSchema(target);
    const rows = Array.from({ length: 6 }, (_, i) => makeRow('alice', 'notes', i, dims));
    expect(await ctx.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(rows, 4))).toEqual({ rowsLoaded: 6, rowsReplaced: 0 });
    const back = await ctx.h.query<{ v: number[] }>(`SELECT embedding::real[] AS v FROM ${quoted(target.table)} ORDER BY source_index`);
    back.forEach((r, i) => expect(bits(r.v)).toBe(bits(Array.from((rows[i] as DocumentRow).embedding, referenceFloat16))));

    const query = (rows[2] as DocumentRow).embedding;
    const hits = await ctx.h.sink.reads.search(target, { userId: 'alice', embedding: query, k: 3 });
    expect(hits[0]?.sourceIndex).toBe(2);
    expect(hits[0]?.distance).toBeCloseTo(0, 3);
    expect(hits.map((x) => x.distance)).toEqual([...hits.map((x) => x.distance)].sort((a, b) => a - b));
    // Without a type the column's own is used; naming the other type is refused.
    const untyped = await ctx.h.sink.reads.search({ table: target.table, dimensions: dims }, { userId: 'alice', embedding: query, k: 3 });
    expect(untyped).toEqual(hits);
    await expectMigrateError(ctx.h.sink.reads.search({ ...target, vectorType: 'vector' }, { userId: 'alice', embedding: query, k: 3 }), 'E_DIM_MISMATCH', 'halfvec(3000)', 'vector(3000)');
  });

  it('refuses a table of the other type, naming both types and dimensions', async () => {
    const asVector = freshTarget(8, 'vector');
    await ctx.h.sink.schema.ensureSchema(asVector);
    await ctx.h.sink.loads.replaceStore(asVector, { userId: 'u', collection: 'c' }, inBatches([makeRow('u', 'c', 0, 8)], 1));
    const asHalf: TargetSpec = { ...asVector, vectorType: 'halfvec' };
    expect(await ctx.h.sink.schema.inspect(asHalf)).toMatchObject({ tableExists: true, tableDimensions: 8, tableVectorType: 'vector' });
    await expectMigrateError(ctx.h.sink.schema.ensureSchema(asHalf), 'E_DIM_MISMATCH', asVector.table, 'vector(8)', 'halfvec(8)');
    await expectMigrateError(ctx.h.sink.loads.replaceStore(asHalf, { userId: 'u', collection: 'c' }, inBatches([makeRow('u', 'c', 1, 8)], 1)), 'E_DIM_MISMATCH', 'vector(8)', 'halfvec(8)');
    await expectMigrateError(ctx.h.sink.transaction(asHalf, async () => 'never'), 'E_DIM_MISMATCH', 'vector(8)', 'halfvec(8)');

    const half = freshTarget(8);
    await ctx.h.sink.schema.ensureSchema(half);
    // An absent vectorType means vector: a halfvec table is refused for it too.
    const implicit = { table: half.table, dimensions: 8 };
    await expectMigrateError(ctx.h.sink.schema.ensureSchema(implicit), 'E_DIM_MISMATCH', 'halfvec(8)', 'vector(8)');
    await expectMigrateError(ctx.h.sink.loads.replaceStore(implicit, { userId: 'u', collection: 'c' }, inBatches([makeRow('u', 'c', 0, 8)], 1)), 'E_DIM_MISMATCH', 'halfvec(8)');
    await expectMigrateError(ctx.h.sink.schema.ensureSchema({ ...half, dimensions: 9 }), 'E_DIM_MISMATCH', '8', '9');

    expect(await countByStore(ctx.h, asVector.table)).toEqual({ 'u/c': 1 });
    expect(await countByStore(ctx.h, half.table)).toEqual({});
    const types = await ctx.h.query<{ t: string }>(
      `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attname = 'embedding' AND attrelid IN (to_regclass($1), to_regclass($2)) ORDER BY 1 DESC`,
      [quoted(asVector.table), quoted(half.table)],
    );
    expect(types.map((x) => x.t)).toEqual(['vector(8)', 'halfvec(8)']);
  });

  it('refuses a value beyond float16 range with E_VECTOR and keeps the previous rows', async () => {
    const target = freshTarget(3);
    await ctx.h.sink.schema.ensureSchema(target);
    const before = [makeRow('u', 'c', 0, 3), makeRow('u', 'c', 1, 3)];
    await ctx.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(before, 2));
    const snapshot = await ctx.h.query(`SELECT id::text, embedding::text FROM ${quoted(target.table)} ORDER BY id`);

    const overflowing = [makeRow('u', 'c', 0, 3), makeRow('u', 'c', 1, 3, { embedding: new Float32Array([0.5, -70000, 0]) })];
    await expectMigrateError(ctx.h.sink.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(overflowing, 1)), 'E_VECTOR', 'row 1', 'u/c', '-70000', 'halfvec');
    expect(await ctx.h.query(`SELECT id::text, embedding::text FROM ${quoted(target.table)} ORDER BY id`)).toEqual(snapshot);
    // The same value is a valid float32: a vector table takes it.
    const wide = freshTarget(3, 'vector');
    await ctx.h.sink.schema.ensureSchema(wide);
    await ctx.h.sink.loads.replaceStore(wide, { userId: 'u', collection: 'c' }, inBatches(overflowing, 1));
    expect(await countByStore(ctx.h, wide.table)).toEqual({ 'u/c': 2 });
  });
});
