/** pgvector's limits, in one place: what the reduction plans for and what the schema indexes. */
import type { VectorType } from './types.js';

/** The most dimensions pgvector's HNSW index takes, per column type (above: searches scan). */
export const MAX_HNSW_DIMENSIONS: Readonly<Record<VectorType, number>> = { vector: 2000, halfvec: 4000 };
