import { MigrateError } from '../errors.js';
import type { StoredVector } from '../source/types.js';
import type { Embedder } from './embedder.js';
import type { Projector } from './pca/index.js';

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
  /** Everything that produced the vectors (see `fingerprintOf`). */
  readonly fingerprint: Readonly<Record<string, string | number | boolean | null>>;
  vectors(batch: readonly PendingEntry[]): Promise<Float32Array[]>;
}

export function reembedding(embedder: Embedder): Vectorizer {
  return {
    label: embedder.modelId,
    dimensions: embedder.dimensions,
    needsStoredVectors: false,
    pcaModelId: null,
    fingerprint: { ...embedder.fingerprint },
    vectors: (batch) => embedder.embed(batch.map((e) => e.text)),
  };
}

/** Keep mode: the stored vectors as they are (pgvector stores float32, so float64 input is rounded). */
export function keepingStored(label: string, dimensions: number): Vectorizer {
  return {
    label,
    dimensions,
    needsStoredVectors: true,
    pcaModelId: null,
    fingerprint: { model: label, kept: true, dimensions },
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
    async vectors(batch) {
      const shas = batch.flatMap((e) => (e.contentSha256 === undefined ? [] : [e.contentSha256]));
      const found = shas.length === 0 ? new Map<string, Float32Array>() : await lookup(shas);
      const usable = (e: PendingEntry): Float32Array | undefined => {
        const stored = e.contentSha256 === undefined ? undefined : found.get(e.contentSha256);
        return stored !== undefined && stored.length === inner.dimensions ? stored : undefined;
      };
      const missing = batch.filter((e) => usable(e) === undefined);
      const computed = missing.length === 0 ? [] : await inner.vectors(missing);
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
    fingerprint: { ...inner.fingerprint, sourceDimensions: inner.dimensions, dimensions: model.targetDimensions, pcaModelId: model.id },
    async vectors(batch) {
      return projector.project(await inner.vectors(batch));
    },
  };
}

/**
 * The canonical form of a vectorizer's fingerprint and the column type: JSON with sorted keys, so
 * equal inputs give equal strings. Rows carry it (`embedding_fingerprint`) and the ledger compares it.
 */
export function fingerprintOf(vectorizer: Pick<Vectorizer, 'fingerprint'>, vectorType: 'vector' | 'halfvec'): string {
  const all: Record<string, string | number | boolean | null> = { ...vectorizer.fingerprint, vectorType };
  return JSON.stringify(Object.fromEntries(Object.keys(all).sort().map((k) => [k, all[k] ?? null])));
}
