/**
 * pgvm_project(regclass, vector), the SQL projection of PCA tables (schema/013_pca_projection.sql),
 * against PostgreSQL and PGlite: it equals projectForSearch, ranks like the tool's own search,
 * follows refits, is restored for models saved before it existed, and refuses clearly.
 */
import { describe, expect, it } from 'vitest';
import type { DocumentRow, TargetSpec } from '../src/sink/types.js';
import { fromPcaModelRecord, toNewPcaModel } from '../src/run/pcaModelRecord.js';
import { fitReduction, projectForSearch } from '../src/transform/pcaFit.js';
import { DRIVERS, inBatches, makeRow, quoted, uniqueTable, useHarness, vectorFor } from './helpers/db.js';

const SOURCE = 48;
const TARGET = 12;
const ROWS = 200;
const QUERIES = 40;
const K = 10;
/** float32 accumulation in pgvector against float64 in projectOne, on values of order 1. */
const TOLERANCE = 1e-5;

/** Vectors with a dominant low-dimensional structure plus noise, so PCA has something to find. */
function sample(seed: number, count: number): Float32Array[] {
  const basis = Array.from({ length: 6 }, (_, b) => vectorFor(seed * 100 + b, SOURCE));
  return Array.from({ length: count }, (_, i) => {
    const weights = vectorFor(seed * 7919 + i, basis.length);
    const noise = vectorFor(seed * 104729 + i, SOURCE);
    const v = new Float32Array(SOURCE);
    for (let d = 0; d < SOURCE; d++) v[d] = basis.reduce((s, b, k) => s + 3 * (weights[k] as number) * (b[d] as number), 0.2 * (noise[d] as number) + 0.3);
    return v;
  });
}

function parseVector(text: string): number[] {
  return JSON.parse(text) as number[];
}

describe.each(DRIVERS)('pgvm_project (%s)', (driver) => {
  const ctx = useHarness(driver);

  async function freshSchema(): Promise<string> {
    const schema = uniqueTable('pgvm_project');
    await ctx.h.query(`CREATE SCHEMA "${schema}"`);
    ctx.track(`${schema}.docs`);
    return schema;
  }

  /** A PCA table of ROWS rows of one user, projected with a model fitted on `seed`'s sample. */
  async function pcaTable(schema: string, seed = 1): Promise<{ target: TargetSpec; raw: Float32Array[] }> {
    const target: TargetSpec = { table: `${schema}.docs`, dimensions: TARGET, distance: 'l2' };
    await ctx.h.sink.schema.ensureSchema(target);
    const raw = sample(seed, ROWS);
    const fitted = await fitReduction(raw, TARGET);
    const saved = await ctx.h.sink.pcaModels.save(toNewPcaModel(target.table, fitted, { test: true }));
    const rows: DocumentRow[] = raw.map((v, i) => ({ ...makeRow('u1', 'c', i, TARGET), embedding: projectForSearch(fitted.model, v), pcaModelId: saved.id }));
    await ctx.h.sink.loads.replaceStore(target, { userId: 'u1', collection: 'c' }, inBatches(rows, 64));
    return { target, raw };
  }

  async function sqlProjection(schema: string, table: string, v: Float32Array): Promise<number[]> {
    const rows = await ctx.h.query<{ y: string }>(`SELECT "${schema}".pgvm_project($1::regclass, $2::vector)::text AS y`, [quoted(table), JSON.stringify(Array.from(v))]);
    return parseVector(rows[0]?.y ?? 'null');
  }

  function expectClose(actual: number[], expected: Float32Array): void {
    expect(actual).toHaveLength(expected.length);
    const worst = Math.max(...actual.map((x, i) => Math.abs(x - (expected[i] as number))));
    expect(worst).toBeLessThan(TOLERANCE);
  }

  it('equals projectForSearch (unit scaling included) and ranks like the tool\'s search', async () => {
    const schema = await freshSchema();
    const { target } = await pcaTable(schema);
    const record = await ctx.h.sink.pcaModels.active(target);
    const model = fromPcaModelRecord(record!);
    // Queries of every length: the unit scaling must happen in SQL too.
    const queries = sample(2, QUERIES).map((v, q) => v.map((x) => x * (0.01 + q)));
    let sameRanking = 0;
    for (const [q, v] of queries.entries()) {
      const projected = projectForSearch(model, v);
      expectClose(await sqlProjection(schema, target.table, v), projected);
      const tool = (await ctx.h.sink.reads.search(target, { userId: 'u1', embedding: projected, k: K })).map((h) => h.id);
      const vectorParam = JSON.stringify(Array.from(v));
      const plain = await ctx.h.query<{ id: string }>(
        `SELECT id::text AS id FROM ${quoted(target.table)} WHERE user_id = 'u1' ORDER BY embedding <-> "${schema}".pgvm_project('${target.table}', $1::vector) LIMIT ${K}`,
        [vectorParam],
      );
      const once = await ctx.h.query<{ id: string }>(
        `SELECT id::text AS id FROM ${quoted(target.table)} WHERE user_id = 'u1' ORDER BY embedding <-> (SELECT "${schema}".pgvm_project('${target.table}', $1::vector)) LIMIT ${K}`,
        [vectorParam],
      );
      expect(tool, `query ${q}`).toHaveLength(K);
      expect(plain.map((r) => r.id), `query ${q}`).toEqual(tool);
      expect(once.map((r) => r.id), `query ${q}`).toEqual(tool);
      sameRanking++;
    }
    expect(sameRanking).toBe(QUERIES);
  });

  it('projects a 3072-dimension source, which it keeps in pieces of 1536', async () => {
    const schema = await freshSchema();
    const target: TargetSpec = { table: `${schema}.docs`, dimensions: 16, distance: 'l2' };
    await ctx.h.sink.schema.ensureSchema(target);
    const source = 3072;
    const components = new Float32Array(16 * source);
    for (let j = 0; j < 16; j++) components.set(vectorFor(500 + j, source).map((x) => x / 16), j * source);
    const mean = vectorFor(499, source).map((x) => x / 100);
    const saved = await ctx.h.sink.pcaModels.save({
      table: target.table, sourceDimensions: source, targetDimensions: 16, mean, components,
      explainedVariance: new Float64Array(16).fill(1), totalVariance: 20, sampleSize: 0, method: 'test', fit: {}, evaluation: new Float32Array(0), evaluationRows: 0,
    });
    const pieces = await ctx.h.query<{ n: number; dims: number }>(`SELECT count(*)::int AS n, max(vector_dims(v)) AS dims FROM "${schema}".vector_pca_components WHERE model_id = $1`, [saved.id]);
    expect(pieces).toEqual([{ n: 32, dims: 1536 }]);
    const model = fromPcaModelRecord(saved);
    for (let q = 0; q < 3; q++) {
      const v = vectorFor(600 + q, source);
      expectClose(await sqlProjection(schema, target.table, v), projectForSearch(model, v));
    }
  });

  it('follows a refit: the new active model projects', async () => {
    const schema = await freshSchema();
    const { target } = await pcaTable(schema, 1);
    const refit = await fitReduction(sample(3, ROWS), TARGET);
    await ctx.h.sink.pcaModels.save(toNewPcaModel(target.table, refit, { test: 'refit' }));
    const v = sample(4, 1)[0]!;
    expectClose(await sqlProjection(schema, target.table, v), projectForSearch(refit.model, v));
    const first = fromPcaModelRecord((await ctx.h.sink.pcaModels.active(target))!);
    expect(Array.from(first.components)).toEqual(Array.from(refit.model.components));
  });

  it('restores its rows for a model saved before it existed (ensureSchema)', async () => {
    const schema = await freshSchema();
    const { target } = await pcaTable(schema);
    const model = fromPcaModelRecord((await ctx.h.sink.pcaModels.active(target))!);
    // What a database migrated by an earlier version looks like.
    await ctx.h.query(`DROP FUNCTION "${schema}".pgvm_project(regclass, vector)`);
    await ctx.h.query(`DROP TABLE "${schema}".vector_pca_components, "${schema}".vector_pca_means`);
    await ctx.h.sink.schema.ensureSchema(target);
    const v = sample(5, 1)[0]!;
    expectClose(await sqlProjection(schema, target.table, v), projectForSearch(model, v));
  });

  it('refuses a table without PCA, a vector of another length, and a table of another schema', async () => {
    const schema = await freshSchema();
    const { target } = await pcaTable(schema);
    const plain = `${schema}.plain`;
    ctx.track(plain);
    await ctx.h.sink.schema.ensureSchema({ table: plain, dimensions: SOURCE });
    await expect(sqlProjection(schema, plain, sample(6, 1)[0]!)).rejects.toThrow(/table .*plain has no PCA model/);
    await expect(sqlProjection(schema, target.table, new Float32Array(SOURCE - 1).fill(0.1))).rejects.toThrow(
      new RegExp(`the query vector has ${SOURCE - 1} dimensions; the PCA model of table .*docs projects ${SOURCE}-dimension vectors`),
    );
    const other = await freshSchema();
    await pcaTable(other);
    await expect(sqlProjection(schema, `${other}.docs`, sample(6, 1)[0]!)).rejects.toThrow(/this pgvm_project serves the tables of schema/);
  });
});
