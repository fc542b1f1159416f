import { MigrateError } from '../errors.js';
import type { StoredVector } from '../source/types.js';
import type { Embedder } from './embedder.js';
import type { Projector } from './pca/index.js';
import { sha256Hex } from './rowId.js';
import { truncateForSearch } from './truncate.js';

/** One entry on its way to becoming a row: its text and, in keep mode, its stored vector. */
export interface PendingEntry {
  index: number;
  text: string;
  vector?: StoredVector;
  /** Hex SHA-256 of the text, the key under which a stored embedding can be reused. */
  contentSha256?: string;
}

/**
 * Turns a batch of entries into the vectors that go into the table. Re-embedding, keeping the
 * stored vectors and projecting with PCA are separate steps composed here, so the load path is
 * the same whichever combination a run uses.
 */
export interface Vectorizer {
  /** Recorded in `embedding_model`. */
  readonly label: string;
  /** Dimension of what `vectors` returns. */
  readonly dimensions: number;
  /** Whether entries must carry their stored vectors (keep mode). */
  readonly needsStoredVectors: boolean;
  /** The PCA model applied, recorded in `pca_model_id`. */
  readonly pcaModelId: string | null;
  /**
   * Whether a call with many entries costs less per entry than the same entries in several calls:
   * a model groups a call's texts by length (batching.ts), so callers hand it a wide window
   * (SORT_WINDOW_BATCHES batches); per-entry work (keep mode) gains nothing and gets one batch.
   */
  readonly groupsByLength: boolean;
  /**
   * The vectors of `batch`, in its order. `onProgress`, when given, is told how many of the
   * batch's entries have been vectorized so far as the work goes (a wide window takes a while).
   */
  vectors(batch: readonly PendingEntry[], onProgress?: ProgressCallback): Promise<Float32Array[]>;
}

/** Told the number of entries of the current call done since the last call. */
export type ProgressCallback = (entries: number) => void;

/** Texts per model call when the caller does not say (the CLI's --batch-size default too). */
export const DEFAULT_EMBED_BATCH = 32;

/**
 * Re-embeds the texts. A call with more entries than `batchSize` (rowBatches hands over a window
 * of several batches) is embedded in length-sorted batches of `batchSize`: see Embedder.embed.
 */
export function reembedding(embedder: Embedder, options: { batchSize?: number } = {}): Vectorizer {
  const batchSize = options.batchSize ?? DEFAULT_EMBED_BATCH;
  return {
    label: embedder.modelId,
    dimensions: embedder.dimensions,
    needsStoredVectors: false,
    pcaModelId: null,
    groupsByLength: true,
    vectors: (batch, onProgress) => embedder.embed(batch.map((e) => e.text), { batchSize, ...(onProgress === undefined ? {} : { onProgress }) }),
  };
}

/**
 * Vectors of one run keyed by text hash, least recently used dropped first beyond `capacity`, so
 * that memory stays bounded however many texts a run sees. Holds what one vectorizer produced:
 * never share it between vectorizers of different embedding spaces.
 */
export class VectorCache {
  readonly #entries = new Map<string, Float32Array>();
  readonly capacity: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new MigrateError('E_INTERNAL', `vector cache capacity must be an integer >= 0, not ${capacity}`);
    this.capacity = capacity;
  }

  /** A cache of about `bytes` of float32 vectors of `dimensions` (at least 1000 entries). */
  static forBudget(dimensions: number, bytes = DEDUP_CACHE_BYTES): VectorCache {
    return new VectorCache(Math.max(1000, Math.floor(bytes / (4 * Math.max(1, dimensions)))));
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): Float32Array | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting marks it most recently used.
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: Float32Array): void {
    if (this.capacity === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }
}

/** Memory the run's vector cache may use: 32 MB, about 21,000 vectors of 384 dimensions. */
export const DEDUP_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * Computes each distinct text once per run: identical texts within a batch, and texts already
 * vectorized earlier in the run (another store, another user) while they are in `cache`, get the
 * same vector without a model call. Entries are keyed by their text's SHA-256. Only for
 * vectorizers whose vector depends on the text alone (re-embedding), never for kept vectors.
 * Duplicates share one Float32Array: nothing downstream writes into vectors.
 */
export function deduplicating(inner: Vectorizer, cache: VectorCache): Vectorizer {
  return {
    ...inner,
    async vectors(batch, onProgress) {
      const keys = batch.map((e) => e.contentSha256 ?? sha256Hex(e.text));
      const found = new Map<string, Float32Array>();
      const missing = new Map<string, PendingEntry>();
      batch.forEach((e, i) => {
        const key = keys[i] as string;
        if (found.has(key) || missing.has(key)) return;
        const cached = cache.get(key);
        if (cached !== undefined) found.set(key, cached);
        else missing.set(key, e);
      });
      // Entries answered from the cache or by an earlier copy of their text count as done at once.
      if (batch.length > missing.size) onProgress?.(batch.length - missing.size);
      if (missing.size > 0) {
        const computed = await inner.vectors([...missing.values()], onProgress);
        if (computed.length !== missing.size) throw new MigrateError('E_EMBED', `got ${computed.length} vectors for ${missing.size} distinct texts`);
        [...missing.keys()].forEach((key, i) => {
          const vector = computed[i] as Float32Array;
          found.set(key, vector);
          cache.set(key, vector);
        });
      }
      return keys.map((key) => found.get(key) as Float32Array);
    },
  };
}

/** Keep mode: the stored vectors as they are (pgvector stores float32, so float64 input is rounded). */
export function keepingStored(label: string, dimensions: number): Vectorizer {
  return {
    label,
    dimensions,
    needsStoredVectors: true,
    pcaModelId: null,
    groupsByLength: false,
    async vectors(batch) {
      return batch.map((e) => {
        if (e.vector === undefined) throw new MigrateError('E_INTERNAL', `entry ${e.index} reached keep mode without its stored vector`);
        if (e.vector.length !== dimensions) {
          throw new MigrateError('E_DIM_MISMATCH', `entry ${e.index} has a ${e.vector.length}-dimension vector; this run loads ${dimensions}-dimension vectors`);
        }
        return e.vector instanceof Float32Array ? e.vector : Float32Array.from(e.vector);
      });
    },
  };
}

/**
 * Reuses embeddings already in the table for unchanged texts (same text hash, same model, same
 * PCA model: `lookup` checks that) and computes only the rest. Re-runs after a partial failure or
 * of a user with a few new notes then cost what changed, not the whole store.
 */
export function reusingStored(inner: Vectorizer, lookup: (shas: string[]) => Promise<Map<string, Float32Array>>, counter: { reused: number }): Vectorizer {
  return {
    ...inner,
    async vectors(batch, onProgress) {
      const shas = batch.flatMap((e) => (e.contentSha256 === undefined ? [] : [e.contentSha256]));
      const found = shas.length === 0 ? new Map<string, Float32Array>() : await lookup(shas);
      const usable = (e: PendingEntry): Float32Array | undefined => {
        const stored = e.contentSha256 === undefined ? undefined : found.get(e.contentSha256);
        return stored !== undefined && stored.length === inner.dimensions ? stored : undefined;
      };
      const missing = batch.filter((e) => usable(e) === undefined);
      if (batch.length > missing.length) onProgress?.(batch.length - missing.length);
      const computed = missing.length === 0 ? [] : await inner.vectors(missing, onProgress);
      let next = 0;
      return batch.map((e) => {
        const stored = usable(e);
        if (stored !== undefined) {
          counter.reused++;
          return stored;
        }
        return computed[next++] as Float32Array;
      });
    },
  };
}

/** Projects another vectorizer's output with a PCA model (a projector from `createSearchProjector`). */
export function projecting(inner: Vectorizer, projector: Projector, model: { id: string; targetDimensions: number }): Vectorizer {
  return {
    label: inner.label,
    dimensions: model.targetDimensions,
    needsStoredVectors: inner.needsStoredVectors,
    pcaModelId: model.id,
    groupsByLength: inner.groupsByLength,
    async vectors(batch, onProgress) {
      return projector.project(await inner.vectors(batch, onProgress));
    },
  };
}

/**
 * Truncates another vectorizer's output to its first `dimensions` numbers, re-normalized
 * (truncate.ts). Its space is embeddingSpace.ts `truncatedSpace`, which records both dimensions:
 * query and verify read them back to shorten their query vectors the same way.
 */
export function truncating(inner: Vectorizer, dimensions: number): Vectorizer {
  return {
    ...inner,
    dimensions,
    async vectors(batch, onProgress) {
      return (await inner.vectors(batch, onProgress)).map((v) => truncateForSearch(v, dimensions));
    },
  };
}
