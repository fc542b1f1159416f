import type { FernetKey } from '../source/keys.js';
import { readPickledVectors } from '../source/pickle/index.js';
import { readStoreRecords } from '../source/store.js';
import type { StoreLocation } from '../source/types.js';
import type { Embedder } from '../transform/embedder.js';
import { Reservoir, seededRandom } from '../transform/random.js';
import { extractTexts, newRowStats } from '../transform/rows.js';

export interface SampleSource {
  store: StoreLocation;
  key: FernetKey;
}

export interface VectorSample {
  /** Shuffled, so any prefix/suffix split is itself a uniform sample. */
  vectors: Float32Array[];
  /** Vectors (or texts) the sample was drawn from. */
  population: number;
  stores: number;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/**
 * A uniform sample of the stored vectors across all users and stores, holding at most `size`
 * vectors whatever the total (reservoir sampling, seeded so the fit can be repeated).
 */
export async function sampleStoredVectors(sources: readonly SampleSource[], size: number, seed: number): Promise<VectorSample> {
  const random = seededRandom(seed);
  const reservoir = new Reservoir<Float32Array>(size, random);
  for (const { store, key } of sources) {
    if (store.format !== undefined || store.table !== undefined) {
      for await (const r of readStoreRecords(store, key, { withVectors: true })) if (r.vector !== undefined) reservoir.offer(r.vector instanceof Float32Array ? r.vector : Float32Array.from(r.vector));
      continue;
    }
    if (store.vectorsPath === null) continue;
    for await (const v of readPickledVectors(store.vectorsPath)) reservoir.offer(v instanceof Float32Array ? v : Float32Array.from(v));
  }
  return { vectors: shuffle(reservoir.items, random), population: reservoir.seen, stores: sources.length };
}

/** The same for re-embedding: a uniform sample of the texts, embedded in batches. */
export async function sampleEmbeddedTexts(sources: readonly SampleSource[], size: number, seed: number, embedder: Embedder, batchSize: number): Promise<VectorSample> {
  const random = seededRandom(seed);
  const reservoir = new Reservoir<string>(size, random);
  for (const { store, key } of sources) {
    for await (const pending of extractTexts(readStoreRecords(store, key, { withVectors: false }), newRowStats())) reservoir.offer(pending.text);
  }
  const texts = shuffle(reservoir.items, random);
  const vectors: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += batchSize) vectors.push(...(await embedder.embed(texts.slice(i, i + batchSize))));
  return { vectors, population: reservoir.seen, stores: sources.length };
}
