/**
 * The store writer (Sink.loads.openStore) and Sink.schema.describeTable, on both drivers.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DocumentRow, NewPcaModel, StoreKey, TargetSpec } from '../src/sink/types.js';
import { countByStore, DRIVERS, expectMigrateError, inBatches, makeRows, quoted, uniqueTable, useHarness, vectorFor } from './helpers/db.js';

const DIMS = 4;
const ALICE: StoreKey = { userId: 'alice', collection: 'notes' };
const BOB: StoreKey = { userId: 'bob', collection: 'notes' };
const FINGERPRINT = { embeddingModel: 'test-model', pcaModelId: null };

function rowsOf(key: StoreKey, count: number, version: string, seed = 0): DocumentRow[] {
  return makeRows(key.userId, key.collection, count, DIMS).map((r) => {
    const text = `${r.text} ${version}`;
    return { ...r, text, contentSha256: createHash('sha256').update(text, 'utf8').digest('hex'), embedding: vectorFor(seed * 100 + r.sourceIndex, DIMS) };
  });
}

function pcaModel(table: string): NewPcaModel {
  return {
    table,
    sourceDimensions: 6,
    targetDimensions: DIMS,
    mean: vectorFor(1, 6),
    components: vectorFor(2, DIMS * 6),
    explainedVariance: Float64Array.from({ length: DIMS }, (_, i) => DIMS - i),
    totalVariance: 20,
    sampleSize: 100,
    method: 'covariance-eigh',
    fit: {},
    evaluation: vectorFor(3, 6),
    evaluationRows: 1,
  };
}

describe.each(DRIVERS)('store writer (%s)', (driver) => {
  const ctx = useHarness(driver);

  async function freshTarget(extra: Partial<TargetSpec> = {}): Promise<TargetSpec> {
    const target = { table: ctx.track(uniqueTable('writer')), dimensions: DIMS, ...extra };
    await ctx.h.sink.schema.ensureSchema(target);
    return target;
  }

  /** Every row of the table, in a stable order, with its embedding as text. */
  async function snapshot(table: string): Promise<Record<string, unknown>[]> {
    return ctx.h.query(`SELECT id, user_id, collection_name, text, embedding::text AS embedding, metadata::text AS metadata FROM ${quoted(table)} ORDER BY id`);
  }

  it('commit returns the counts, and replaces only its store', async () => {
    const target = await freshTarget();
    await ctx.h.sink.loads.replaceStore(target, BOB, inBatches(rowsOf(BOB, 2, 'v1'), 2));
    const first = await ctx.h.sink.loads.openStore(target, ALICE);
    await first.write(rowsOf(ALICE, 3, 'v1').slice(0, 2));
    await first.write(rowsOf(ALICE, 3, 'v1').slice(2));
    expect(await first.commit()).toEqual({ rowsLoaded: 3, rowsReplaced: 0 });

    const again = await ctx.h.sink.loads.openStore(target, ALICE);
    await again.write(rowsOf(ALICE, 5, 'v2'));
    expect(await again.commit()).toEqual({ rowsLoaded: 5, rowsReplaced: 3 });
    expect(await countByStore(ctx.h, target.table)).toEqual({ 'alice/notes': 5, 'bob/notes': 2 });
    // Ended: nothing more can be written, and abort after commit changes nothing.
    await expectMigrateError(again.write(rowsOf(ALICE, 1, 'v3')), 'E_INTERNAL', 'committed');
    await again.abort();
    expect(await countByStore(ctx.h, target.table)).toEqual({ 'alice/notes': 5, 'bob/notes': 2 });
  });

  it('a write then abort leaves the table unchanged (abort is idempotent)', async () => {
    const target = await freshTarget();
    await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 3, 'v1'), 3));
    const before = await snapshot(target.table);
    const writer = await ctx.h.sink.loads.openStore(target, ALICE, { runId: undefined });
    await writer.write(rowsOf(ALICE, 4, 'v2', 1));
    await writer.abort();
    await writer.abort();
    expect(await snapshot(target.table)).toEqual(before);
    await expectMigrateError(writer.commit(), 'E_INTERNAL', 'aborted');
    // The store's locks were released: the next load proceeds.
    expect(await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 2, 'v3'), 2))).toEqual({ rowsLoaded: 2, rowsReplaced: 3 });
  });

  it('leaves nothing written when an exception is thrown between write and commit', async () => {
    const target = await freshTarget();
    await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 2, 'v1'), 2));
    const before = await snapshot(target.table);
    // An empty store too: its rows would go straight into the table (no staging).
    for (const key of [ALICE, BOB]) {
      const writer = await ctx.h.sink.loads.openStore(target, key);
      const failed = (async () => {
        try {
          await writer.write(rowsOf(key, 3, 'v2', 2));
          throw new Error('the embedding model crashed');
        } catch (error) {
          await writer.abort();
          throw error;
        }
      })();
      await expect(failed).rejects.toThrow('the embedding model crashed');
    }
    expect(await snapshot(target.table)).toEqual(before);
    // A write the sink refuses (another dimension) rolls back by itself, before any abort.
    const writer = await ctx.h.sink.loads.openStore(target, BOB);
    await writer.write(rowsOf(BOB, 1, 'v2'));
    await expectMigrateError(writer.write([{ ...rowsOf(BOB, 2, 'v2')[1], embedding: new Float32Array(DIMS + 1) } as DocumentRow]), 'E_DIM_MISMATCH', 'expects 4');
    expect(await snapshot(target.table)).toEqual(before);
    expect(await ctx.h.sink.loads.replaceStore(target, BOB, inBatches(rowsOf(BOB, 1, 'v3'), 1))).toEqual({ rowsLoaded: 1, rowsReplaced: 0 });
  });

  it("lookup sees the store's rows as they were before the load", async () => {
    const target = await freshTarget();
    const v1 = rowsOf(ALICE, 4, 'v1', 5);
    await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(v1, 4));
    const shas = v1.map((r) => r.contentSha256);
    const writer = await ctx.h.sink.loads.openStore(target, ALICE);
    const found = await writer.lookup(shas, FINGERPRINT);
    expect([...found.keys()].sort()).toEqual([...shas].sort());
    // Same texts, other vectors, written: the lookup still answers with the stored ones.
    await writer.write(rowsOf(ALICE, 4, 'v1', 9));
    const after = await writer.lookup(shas, FINGERPRINT);
    expect(v1.map((r) => Array.from(after.get(r.contentSha256) ?? []))).toEqual(v1.map((r) => Array.from(r.embedding)));
    expect(await writer.commit()).toEqual({ rowsLoaded: 4, rowsReplaced: 4 });
    // Other stores' rows are not this store's.
    const other = await ctx.h.sink.loads.openStore(target, BOB);
    expect((await other.lookup(shas, FINGERPRINT)).size).toBe(0);
    await other.abort();
  });

  it('writes a store inside a transaction, committed with it or not at all', async () => {
    const target = await freshTarget();
    await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(rowsOf(ALICE, 2, 'v1'), 2));
    const before = await snapshot(target.table);
    await expect(
      ctx.h.sink.transaction(target, async (session) => {
        const writer = await session.loads.openStore(target, BOB);
        await writer.write(rowsOf(BOB, 2, 'v1'));
        expect(await writer.commit()).toEqual({ rowsLoaded: 2, rowsReplaced: 0 });
        const second = await session.loads.openStore(target, ALICE);
        await second.write(rowsOf(ALICE, 1, 'v2'));
        await second.abort();
        return 'done';
      }),
    ).rejects.toThrow('aborted');
    expect(await snapshot(target.table)).toEqual(before);
    const result = await ctx.h.sink.transaction(target, async (session) => {
      const writer = await session.loads.openStore(target, BOB);
      await writer.write(rowsOf(BOB, 2, 'v1'));
      return writer.commit();
    });
    expect(result).toEqual({ rowsLoaded: 2, rowsReplaced: 0 });
    expect(await countByStore(ctx.h, target.table)).toEqual({ 'alice/notes': 2, 'bob/notes': 2 });
  });
});

describe.each(DRIVERS)('describeTable (%s)', (driver) => {
  const ctx = useHarness(driver);

  it('describes an existing table once, as the target that loads and searches it', async () => {
    expect(await ctx.h.sink.schema.describeTable({ table: ctx.track(uniqueTable('described')) })).toBeNull();

    const plain = { table: ctx.track(uniqueTable('described')), dimensions: DIMS, vectorType: 'halfvec' as const };
    await ctx.h.sink.schema.ensureSchema(plain);
    expect(await ctx.h.sink.schema.describeTable({ table: plain.table })).toEqual({ table: plain.table, dimensions: DIMS, vectorType: 'halfvec', distance: 'cosine', pcaModelId: null });

    const projected = { table: ctx.track(uniqueTable('described')), dimensions: DIMS, distance: 'l2' as const, partitions: 2, rls: true };
    await ctx.h.sink.schema.ensureSchema(projected);
    const model = await ctx.h.sink.pcaModels.save(pcaModel(projected.table));
    expect(await ctx.h.sink.schema.describeTable({ table: projected.table })).toEqual({
      table: projected.table,
      dimensions: DIMS,
      vectorType: 'vector',
      distance: 'l2',
      partitions: 2,
      rls: true,
      pcaModelId: model.id,
    });
    // Read-only too.
    expect((await (await ctx.h.readOnlySink()).schema.describeTable({ table: projected.table }))?.pcaModelId).toBe(model.id);
  });
});
