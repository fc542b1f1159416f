/**
 * Length-sorted batching (the vectors come back in the texts' own order, equal to unbatched
 * ones) and deduplication (each distinct text reaches the model once per run, with bounded
 * memory).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceRecord } from '../src/source/store.js';
import { inPlannedBatches, lengthSortedBatches } from '../src/transform/batching.js';
import { createEmbedder, type EmbedOptions, type Embedder } from '../src/transform/embedder.js';
import { newRowStats, rowBatches, SORT_WINDOW_BATCHES } from '../src/transform/rows.js';
import { deduplicating, keepingStored, reembedding, VectorCache } from '../src/transform/vectorize.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TINY = path.join(REPO, 'fixtures', 'models', 'tiny-bert');

/** Deterministic lengths with many ties. */
function lengths(n: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return 1 + (x % 37);
  });
}

describe('length-sorted batches', () => {
  it('cover every position once, shortest first, ties in source order, at most batchSize each', () => {
    for (const [n, size] of [
      [0, 4],
      [1, 4],
      [10, 3],
      [100, 7],
      [64, 64],
    ] as const) {
      const ls = lengths(n, n + size);
      const plan = lengthSortedBatches(ls, size);
      const flat = plan.flat();
      expect([...flat].sort((a, b) => a - b)).toEqual(ls.map((_, i) => i));
      for (const batch of plan) expect(batch.length).toBeLessThanOrEqual(size);
      for (let i = 1; i < flat.length; i++) {
        const [prev, cur] = [flat[i - 1] as number, flat[i] as number];
        expect(ls[prev] as number).toBeLessThanOrEqual(ls[cur] as number);
        if (ls[prev] === ls[cur]) expect(prev).toBeLessThan(cur);
      }
    }
    expect(() => lengthSortedBatches([1], 0)).toThrow(RangeError);
  });

  it('results come back in the items’ exact order', async () => {
    const items = lengths(257, 3).map((len, i) => ({ id: i, len }));
    const plan = lengthSortedBatches(
      items.map((x) => x.len),
      16,
    );
    const seen: number[][] = [];
    const out = await inPlannedBatches(items, plan, async (batch) => {
      seen.push(batch.map((x) => x.len));
      return batch.map((x) => `result-${x.id}`);
    });
    expect(out).toEqual(items.map((x) => `result-${x.id}`));
    // The runner really saw sorted batches (not the source order).
    expect(seen.flat()).toEqual([...items.map((x) => x.len)].sort((a, b) => a - b));
    await expect(inPlannedBatches(items, plan, async (batch) => batch.slice(1))).rejects.toThrow(RangeError);
  });
});

describe('Embedder.embed with a batch size (tiny-bert)', () => {
  let embedder: Embedder;
  beforeAll(async () => {
    embedder = await createEmbedder({ model: TINY, allowRemoteModels: false });
  });
  afterAll(async () => {
    await embedder.dispose();
  });

  it('returns, in input order, the vectors each text gets on its own', async () => {
    const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa'.split(' ');
    const texts = lengths(23, 11).map((len, i) => `${i} ${Array.from({ length: len }, (_, k) => words[(i + k) % words.length]).join(' ')}`);
    const alone = await Promise.all(texts.map(async (t) => (await embedder.embed([t]))[0] as Float32Array));
    const batched = await embedder.embed(texts, { batchSize: 4 });
    expect(batched).toHaveLength(texts.length);
    batched.forEach((v, i) => {
      const ref = alone[i] as Float32Array;
      let max = 0;
      for (let j = 0; j < v.length; j++) max = Math.max(max, Math.abs((v[j] as number) - (ref[j] as number)));
      expect(max, `text ${i}`).toBeLessThan(1e-5);
    });
  });

  it('refuses a batch size that is not a positive integer', async () => {
    await expect(embedder.embed(['a', 'b'], { batchSize: 0 })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(embedder.embed(['a', 'b'], { batchSize: 1.5 })).rejects.toMatchObject({ code: 'E_USAGE' });
  });
});

/** An embedder that records every text it is asked to embed. */
function countingEmbedder(dimensions = 4): Embedder & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    modelId: 'counting',
    dimensions,
    identity: { model: 'counting', modelSha256: null, onnxFile: null, pooling: 'mean', normalized: true, dimensions },
    async embed(texts: readonly string[], options?: EmbedOptions) {
      calls.push([...texts]);
      // Progress per model call of batchSize texts, as the real embedder reports it.
      const size = options?.batchSize ?? texts.length;
      for (let i = 0; i < texts.length; i += size) options?.onProgress?.(Math.min(size, texts.length - i));
      return texts.map((t) => {
        const v = new Float32Array(dimensions);
        for (let i = 0; i < t.length; i++) v[i % dimensions] = (v[i % dimensions] as number) + t.charCodeAt(i);
        return v;
      });
    },
    async dispose() {},
  };
}

async function* records(texts: string[]): AsyncGenerator<SourceRecord> {
  for (const [index, text] of texts.entries()) yield { index, entry: { text } };
}

describe('deduplication within a run', () => {
  it('embeds each distinct text once, within a store and across users, and every row gets its text’s vector', async () => {
    const embedder = countingEmbedder();
    const vectorizer = deduplicating(reembedding(embedder, { batchSize: 3 }), new VectorCache(100));
    const stores: Record<string, string[]> = {
      alice: ['hello', 'world', 'hello', 'again', 'hello', 'x'],
      bob: ['world', 'new one', 'hello', 'new one'],
    };
    const loaded: Record<string, { text: string; embedding: Float32Array; sourceIndex: number }[]> = {};
    for (const [userId, texts] of Object.entries(stores)) {
      loaded[userId] = [];
      for await (const batch of rowBatches(records(texts), { userId, collection: 'c' }, vectorizer, 2, newRowStats())) {
        expect(batch.length).toBeLessThanOrEqual(2);
        loaded[userId]?.push(...batch);
      }
    }
    const embedded = embedder.calls.flat();
    expect([...embedded].sort()).toEqual(['again', 'hello', 'new one', 'world', 'x']);
    const reference = countingEmbedder();
    for (const [userId, texts] of Object.entries(stores)) {
      const rows = loaded[userId] ?? [];
      expect(rows.map((r) => r.sourceIndex)).toEqual(texts.map((_, i) => i));
      expect(rows.map((r) => r.text)).toEqual(texts);
      for (const row of rows) expect(Array.from(row.embedding)).toEqual(Array.from((await reference.embed([row.text]))[0] as Float32Array));
    }
  });

  it('stays within its capacity (least recently used out) and then embeds a text again', async () => {
    const cache = new VectorCache(2);
    const embedder = countingEmbedder();
    const vectorizer = deduplicating(reembedding(embedder), cache);
    const entry = (text: string, index = 0) => ({ index, text });
    await vectorizer.vectors([entry('a'), entry('b')]);
    await vectorizer.vectors([entry('a')]); // a is now the most recent
    await vectorizer.vectors([entry('c')]); // evicts b
    expect(cache.size).toBe(2);
    await vectorizer.vectors([entry('a'), entry('c'), entry('b')]);
    expect(embedder.calls).toEqual([['a', 'b'], ['c'], ['b']]);
    const none = deduplicating(reembedding(embedder), new VectorCache(0));
    await none.vectors([entry('q'), entry('q')]);
    await none.vectors([entry('q')]);
    expect(embedder.calls.slice(3)).toEqual([['q'], ['q']]);
    expect(VectorCache.forBudget(384).capacity).toBe(Math.floor((32 * 1024 * 1024) / (4 * 384)));
    expect(VectorCache.forBudget(1_000_000).capacity).toBe(1000);
  });
});

describe('batch limits', () => {
  it('keep count x longest length and count x longest² within their limits (a longer text alone), shortest first', () => {
    const ls = [500, 10, 120, 120, 30, 480, 130, 9, 1000, 20, 20, 20, 20];
    const plan = lengthSortedBatches(ls, 4, { maxTokens: 256, maxAttention: 5000 });
    expect(plan.flat().sort((a, b) => a - b)).toEqual(ls.map((_, i) => i));
    for (const batch of plan) {
      const longest = Math.max(...batch.map((i) => ls[i] as number));
      expect(batch.length <= 4 && (batch.length === 1 || (batch.length * longest <= 256 && batch.length * longest * longest <= 5000))).toBe(true);
    }
    // Four texts make a full batch; 3 x 30 tokens pass both limits; 2 x 120 tokens pass the token
    // limit (240) but not the attention one (28,800); 1000 tokens get a batch of their own.
    expect(plan).toEqual([[7, 1, 9, 10], [11, 12, 4], [2], [3], [6], [5], [0], [8]]);
  });
});

describe('sort windows of rowBatches', () => {
  const texts = Array.from({ length: 3 * 2 * SORT_WINDOW_BATCHES + 5 }, (_, i) => `text ${i} ${'x'.repeat(i % 17)}`);

  it('hands a re-embedding vectorizer whole windows of SORT_WINDOW_BATCHES batches, reports progress inside a window, and yields batches in source order', async () => {
    const embedder = countingEmbedder();
    const progress: number[] = [];
    const vectorizer = reembedding(embedder, { batchSize: 2 });
    const stats = newRowStats();
    const rows = [];
    for await (const batch of rowBatches(records(texts), { userId: 'u', collection: 'c' }, vectorizer, 2, stats, { onProgress: () => progress.push(stats.rows + stats.vectorized) })) {
      expect(batch.length).toBeLessThanOrEqual(2);
      rows.push(...batch);
    }
    expect(embedder.calls.map((c) => c.length)).toEqual([2 * SORT_WINDOW_BATCHES, 2 * SORT_WINDOW_BATCHES, 2 * SORT_WINDOW_BATCHES, 5]);
    expect(rows.map((r) => r.text)).toEqual(texts);
    // Progress moved within the first window, batch by batch, before any row was yielded.
    expect(progress.slice(0, 3)).toEqual([2, 4, 6]);
    expect(progress.at(-1)).toBe(texts.length);
  });

  it('hands keep mode one batch at a time (nothing to sort: a window would only hold memory)', async () => {
    const sizes: number[] = [];
    const keep = keepingStored('kept', 2);
    const vectorizer = { ...keep, vectors: (batch: Parameters<typeof keep.vectors>[0]) => (sizes.push(batch.length), keep.vectors(batch)) };
    async function* withVectors(): AsyncGenerator<SourceRecord> {
      for (const [index, text] of texts.entries()) yield { index, entry: { text }, vector: new Float32Array([index, 1]) };
    }
    let n = 0;
    for await (const batch of rowBatches(withVectors(), { userId: 'u', collection: 'c' }, vectorizer, 4, newRowStats())) n += batch.length;
    expect(n).toBe(texts.length);
    expect(Math.max(...sizes)).toBe(4);
  });
});
