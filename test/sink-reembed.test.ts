/**
 * Sink.reembedding on both drivers, below the CLI: the side table's writes, the checks the swap
 * makes under its lock, and a swap of a partitioned table with row-level security (partitions,
 * indexes, `_previous` and the policy all move with their table).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { suffixedName, suffixOf, type SqlFragment } from '../src/sink/identifiers.js';
import { sqlFile } from '../src/sink/sqlFiles.js';
import type { Reembedding, ReembedJob, Sink, TargetSpec } from '../src/sink/types.js';
import { DRIVERS, expectMigrateError, inBatches, makeRows, quoted, uniqueTable, useHarness, vectorFor, type Harness } from './helpers/db.js';

const OLD_DIMS = 8;
const NEW_DIMS = 12;
const FINGERPRINT = '{"model":"new","dimensions":12}';

describe('suffixOf: the inverse of suffixedName, for the renames of a swap', () => {
  it('recovers the suffix of short and hash-shortened names, and nothing from foreign names', () => {
    const long = 'a'.repeat(60);
    for (const [table, suffix] of [
      ['docs', 'embedding_hnsw_idx'],
      ['docs', 'p3'],
      ['docs_reembed', 'previous'],
      [long, 'embedding_hnsw_idx'],
      [long, 'prev_20261121120000'],
    ] as const) {
      const name = suffixedName(table, suffix);
      expect(name.length).toBeLessThanOrEqual(63);
      expect(suffixOf(table, name)).toBe(suffix);
    }
    expect(suffixOf('docs', 'my_own_index')).toBeNull();
    expect(suffixOf('docs', 'docs')).toBeNull();
    // A name another table derives is not this table's, even when it starts alike.
    expect(suffixOf('docs', suffixedName('other', 'pkey'))).toBeNull();
  });
});

async function startJob(sink: Sink, table: string, side: TargetSpec): Promise<{ r: Reembedding; job: ReembedJob }> {
  const r = sink.reembedding({ table });
  await sink.schema.ensureSchema(side, { deferSearchIndex: true });
  const job = await r.start({ id: randomUUID(), model: 'new', serializedSpace: FINGERPRINT, dimensions: NEW_DIMS, vectorType: 'vector', distance: 'cosine', pcaModelId: null, options: {} });
  return { r, job };
}

/** The new "model": a deterministic vector per text. */
function embed(text: string): Float32Array {
  let seed = 0;
  for (const c of text) seed = (seed * 31 + c.charCodeAt(0)) >>> 0;
  return vectorFor(seed, NEW_DIMS);
}

async function fillSide(r: Reembedding, job: ReembedJob): Promise<number> {
  let written = 0;
  for (;;) {
    const rows = await r.pending(job, { limit: 5 });
    if (rows.length === 0) return written;
    written += await r.write(job, rows.map((row) => ({ id: row.id, text: row.text, embedding: embed(row.text) })));
  }
}

async function relations(h: Harness, prefix: string): Promise<string[]> {
  const rows = await h.query<{ relname: string }>(`SELECT relname FROM pg_class WHERE relname LIKE $1 AND relkind IN ('r', 'p', 'i', 'I') ORDER BY relname`, [`${prefix}%`]);
  return rows.map((r) => r.relname);
}

describe.each(DRIVERS)('Sink.reembedding (%s)', (driver) => {
  const ctx = useHarness(driver);

  it('writes only rows whose text is still the one embedded, and pending returns each row once across pages', async () => {
    const table = ctx.track(uniqueTable('reemb'));
    const side = ctx.track(`${table}_reembed`);
    const target: TargetSpec = { table, dimensions: OLD_DIMS };
    await ctx.h.sink.schema.ensureSchema(target);
    for (const user of ['alice', 'bob']) await ctx.h.sink.loads.replaceStore(target, { userId: user, collection: 'notes' }, inBatches(makeRows(user, 'notes', 7, OLD_DIMS), 3));
    const { r, job } = await startJob(ctx.h.sink, table, { table: side, dimensions: NEW_DIMS });

    const seen: string[] = [];
    let afterId: string | null = null;
    for (;;) {
      const page = await r.pending(job, { limit: 4, afterId });
      if (page.length === 0) break;
      seen.push(...page.map((p) => p.id));
      afterId = page.at(-1)?.id ?? null;
    }
    expect(seen).toHaveLength(14);
    expect(new Set(seen).size).toBe(14);
    expect((await r.pending(job, { limit: 100, users: ['bob'] })).every((p) => p.userId === 'bob')).toBe(true);

    const [a, b] = await r.pending(job, { limit: 2 });
    if (a === undefined || b === undefined) throw new Error('expected two pending rows');
    const first = [a, b] as const;
    // The application edits the second row's text after it was read.
    await ctx.h.query(`UPDATE ${quoted(table)} SET text = 'changed meanwhile' WHERE id = $1`, [first[1].id]);
    const written = await r.write(job, first.map((row) => ({ id: row.id, text: row.text, embedding: embed(row.text) })));
    expect(written).toBe(1);
    expect(await r.counts(job)).toEqual({ total: 14, done: 1 });
    // The edited row is pending again, with its new text.
    expect((await r.pending(job, { limit: 100 })).find((p) => p.id === first[1].id)?.text).toBe('changed meanwhile');

    // Writing a row twice leaves one row.
    await r.write(job, [{ id: first[0].id, text: first[0].text, embedding: embed(first[0].text) }]);
    expect((await ctx.h.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${quoted(side)} WHERE id = $1`, [first[0].id]))[0]?.n).toBe(1);
    await expectMigrateError(r.write(job, [{ id: first[0].id, text: first[0].text, embedding: new Float32Array(OLD_DIMS) }]), 'E_DIM_MISMATCH');
    await expectMigrateError(r.start({ ...job, id: randomUUID() }), 'E_REEMBED', 'unfinished');
    await r.abort(job);
  });

  it('rows left pending are embedded under the swap lock; a failure there changes nothing; a second swap of the job is refused', async () => {
    const table = ctx.track(uniqueTable('reemb'));
    const side = ctx.track(`${table}_reembed`);
    const target: TargetSpec = { table, dimensions: OLD_DIMS };
    await ctx.h.sink.schema.ensureSchema(target);
    await ctx.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(makeRows('alice', 'notes', 6, OLD_DIMS), 6));
    const { r, job } = await startJob(ctx.h.sink, table, { table: side, dimensions: NEW_DIMS });
    await fillSide(r, job);
    // A side row with a foreign fingerprint (a hand edit, a bug) is not done: pending again.
    await ctx.h.query(`UPDATE ${quoted(side)} SET embedding_fingerprint = 'other' WHERE id = (SELECT id FROM ${quoted(side)} ORDER BY id LIMIT 1)`);
    // The model failing under the swap's lock rolls the whole swap back.
    await expect(
      r.swap(job, async () => {
        throw new Error('the model crashed');
      }),
    ).rejects.toThrow(/the model crashed/);
    expect(await relations(ctx.h, `${table}_prev_2`)).toEqual([]);
    expect((await ctx.h.query<{ d: number }>(`SELECT DISTINCT vector_dims(embedding) AS d FROM ${quoted(table)}`))[0]?.d).toBe(OLD_DIMS);
    // A catch-up that returns the wrong number of vectors is refused too.
    await expectMigrateError(r.swap(job, async () => []), 'E_INTERNAL', 'catch-up returned 0 vectors for 1 rows');

    const caught: string[] = [];
    const result = await r.swap(job, async (rows) => {
      caught.push(...rows.map((x) => x.id));
      return rows.map((x) => embed(x.text));
    });
    ctx.track(result.previousTable);
    expect(result.caughtUp).toBe(1);
    expect(caught).toHaveLength(1);
    expect((await ctx.h.query<{ d: number; n: number }>(`SELECT vector_dims(embedding) AS d, count(*)::int AS n FROM ${quoted(table)} GROUP BY 1`))).toEqual([{ d: NEW_DIMS, n: 6 }]);
    await expectMigrateError(r.swap(job, async () => []), 'E_REEMBED', 'no longer running');
  });

  it("spotCheck finds each user's checked row by an exact search, never through the side table's HNSW index, and a wrong vector fails it", async () => {
    const table = ctx.track(uniqueTable('reemb'));
    const side = ctx.track(`${table}_reembed`);
    const target: TargetSpec = { table, dimensions: OLD_DIMS };
    await ctx.h.sink.schema.ensureSchema(target);
    for (const user of ['alice', 'bob', 'carol']) await ctx.h.sink.loads.replaceStore(target, { userId: user, collection: 'notes' }, inBatches(makeRows(user, 'notes', 40, OLD_DIMS), 20));
    const { r, job } = await startJob(ctx.h.sink, table, { table: side, dimensions: NEW_DIMS });
    await fillSide(r, job);
    await ctx.h.sink.schema.buildSearchIndex({ table: side, dimensions: NEW_DIMS });
    await ctx.h.query(`ANALYZE ${quoted(side)}`);

    const smallest = await ctx.h.query<{ user_id: string; id: string }>(`SELECT DISTINCT ON (user_id) user_id, id::text AS id FROM ${quoted(side)} ORDER BY user_id, id`);
    const checks = await r.spotCheck(job);
    expect(checks.map((c) => [c.userId, c.id, c.collection]).sort()).toEqual(smallest.map((s) => [s.user_id, s.id, 'notes']));
    for (const c of checks) {
      expect(c.foundId).toBe(c.id);
      expect(c.distance).toBeLessThanOrEqual(1e-6);
    }

    // Even where the planner would rather take any index than scan, the check's plan has no HNSW scan.
    const plan = async (sql: string): Promise<string> => {
      await ctx.h.query('BEGIN');
      try {
        await ctx.h.query('SET LOCAL enable_seqscan = off');
        const rows = await ctx.h.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`);
        return rows.map((x) => x['QUERY PLAN']).join('\n');
      } finally {
        await ctx.h.query('COMMIT');
      }
    };
    expect(await plan(sqlFile('queries/reembed_spot_check.sql', { side: quoted(side) as SqlFragment, op: '<=>' as SqlFragment }))).not.toContain('embedding_hnsw_idx');
    // ...while a search ordered by the operator, as the check used to run, goes through it.
    expect(await plan(`SELECT id FROM ${quoted(side)} ORDER BY embedding <=> '[${Array.from(embed('x')).join(',')}]' LIMIT 1`)).toContain('embedding_hnsw_idx');

    // A checked row whose vector cannot be found (zero under cosine): NaN, so the swap's check fails.
    const alice = smallest.find((s) => s.user_id === 'alice')?.id;
    await ctx.h.query(`UPDATE ${quoted(side)} SET embedding = array_fill(0, ARRAY[${NEW_DIMS}])::real[]::vector WHERE id = $1`, [alice]);
    const bad = (await r.spotCheck(job)).find((c) => c.userId === 'alice');
    expect(bad?.id).toBe(alice);
    expect(Number.isNaN(bad?.distance)).toBe(true);
    await r.abort(job);
  });

  it('swaps a partitioned table with row-level security: partitions, indexes, _previous and the policy move with their tables', async () => {
    const table = ctx.track(uniqueTable('reemb'));
    const side = ctx.track(`${table}_reembed`);
    const target: TargetSpec = { table, dimensions: OLD_DIMS, partitions: 4, rls: true };
    await ctx.h.sink.schema.ensureSchema(target);
    for (const user of ['alice', 'bob', 'carol', 'dave', 'erin']) {
      await ctx.h.sink.loads.replaceStore(target, { userId: user, collection: 'notes' }, inBatches(makeRows(user, 'notes', 3, OLD_DIMS), 3), { runId: undefined });
    }
    const info = await ctx.h.sink.schema.inspect({ table, dimensions: OLD_DIMS });
    expect(info).toMatchObject({ tablePartitions: 4, tableRls: true });
    const { r, job } = await startJob(ctx.h.sink, table, { table: side, dimensions: NEW_DIMS, partitions: 4, rls: true });
    expect(await fillSide(r, job)).toBe(15);
    await ctx.h.sink.schema.buildSearchIndex({ table: side, dimensions: NEW_DIMS, partitions: 4 });
    const oldNames = await relations(ctx.h, table);

    const result = await r.swap(job, async (rows) => rows.map((x) => embed(x.text)));
    const retired = ctx.track(result.previousTable);
    const after = await ctx.h.sink.schema.inspect({ table, dimensions: NEW_DIMS });
    expect(after).toMatchObject({ tableDimensions: NEW_DIMS, tablePartitions: 4, tableRls: true });
    expect(await ctx.h.sink.schema.inspect({ table: retired, dimensions: OLD_DIMS })).toMatchObject({ tableDimensions: OLD_DIMS, tablePartitions: 4, tableRls: true });
    // Every relation named after the table before the swap exists again under the same name
    // (now the new table's), and the retired table's family carries its own names.
    const retiredNames = await relations(ctx.h, retired);
    // (Names derived from the retired table may be hash-shortened: suffixOf recognizes them.)
    const ofRetired = (n: string) => suffixOf(retired, n) !== null || n === retired;
    const newNames = (await relations(ctx.h, table)).filter((n) => !ofRetired(n));
    expect(newNames).toEqual(oldNames.filter((n) => suffixOf(side, n) === null && n !== side));
    expect(retiredNames.length).toBeGreaterThanOrEqual(4 + 4); // four partitions, each with its indexes
    for (let p = 0; p < 4; p++) expect(retiredNames).toContain(suffixedName(retired, `p${p}`));
    // The rows are where they belong: each user's rows in one partition of the new table.
    const parts = await ctx.h.query<{ user_id: string; parts: number }>(`SELECT user_id, count(DISTINCT tableoid)::int AS parts FROM ${quoted(table)} GROUP BY user_id`);
    expect(parts.every((p) => p.parts === 1)).toBe(true);
    // A search of the swapped table answers from the new vectors.
    const probe = embed('alice/notes entry 1');
    const hits = await ctx.h.sink.reads.search({ table, dimensions: NEW_DIMS }, { userId: 'alice', embedding: probe, k: 1 });
    expect(hits[0]?.text).toBe('alice/notes entry 1');

    // Swap back: the old table is the table again, the new one the side table.
    const back = await r.swapBack();
    expect(back.restored).toBe(retired);
    expect(await ctx.h.sink.schema.inspect({ table, dimensions: OLD_DIMS })).toMatchObject({ tableDimensions: OLD_DIMS, tablePartitions: 4, tableRls: true });
    expect(await relations(ctx.h, table)).toEqual(oldNames);
    await r.abort(back.job);
    expect(await relations(ctx.h, side)).toEqual([]);
  });
});
