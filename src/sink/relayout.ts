/** The re-layout of a documents table into its side table (`relayout`): the records and the contract. */
import type { LockOptions, NewReembedJob, ReembedJob, ReembedStoreCount, SpotCheck, VectorType } from './types.js';

/**
 * How the side table stores the table's rows: the embedding cast to `vectorType(dimensions)`,
 * after truncating and re-normalizing it (`truncate`) or projecting it with the side table's
 * active PCA model, whose id the rows then carry (`pca`); stored fingerprints listed in
 * `fingerprints` replaced by the new space's, any other kept when `keepOtherFingerprints`
 * (else NULL). Every other column is copied as it is.
 */
export interface RelayoutTransform {
  vectorType: VectorType;
  dimensions: number;
  vector: { kind: 'cast' } | { kind: 'truncate' } | { kind: 'pca'; modelId: string };
  fingerprints: ReadonlyArray<readonly [stored: string, renamed: string]>;
  keepOtherFingerprints: boolean;
}

/** What the dry run and the plan read about the table. */
export interface RelayoutTableStats {
  rows: number;
  stores: number;
  /** Rows whose vector is a PCA projection (pca_model_id set). */
  pcaRows: number;
  /** pg_total_relation_size of the table, its partitions and indexes. */
  totalBytes: number;
  /** Average stored size of a row and of its embedding (first 2,000 rows by id). */
  rowBytes: number;
  embeddingBytes: number;
}

/** The dry run's measurement: a sample copied into a temporary table and indexed, rolled back. */
export interface RelayoutProbe {
  rows: number;
  copyMs: number;
  indexMs: number;
}

export interface RelayoutSwapResult {
  previousTable: string;
  /** Rows copied under the swap's lock (written after the last catch-up pass). */
  caughtUp: number;
  /** Side rows removed because their row was deleted from the table. */
  pruned: number;
}

/**
 * A documents table's re-layout: the side table `<table>_reembed` (the re-embedding's, under the
 * same job ledger, so the two exclude each other) is filled with the table's rows in the new
 * layout, entirely in SQL, while applications keep reading and writing the table; then swapped
 * in by the re-embedding's swap (SideTableJobs).
 */
export interface Relayout {
  readonly sideTable: string;
  /** The table's unfinished job (of either kind), or null. Reads only. */
  current(): Promise<ReembedJob | null>;
  stats(): Promise<RelayoutTableStats>;
  /** Up to `size` stored vectors of the table, a repeatable pseudo-random sample under `seed` (to fit PCA). */
  sampleVectors(size: number, seed: number): Promise<Float32Array[]>;
  /** The distinct fingerprints of the table's rows (NULL ones left out). Reads only. */
  fingerprints(): Promise<string[]>;
  start(job: NewReembedJob): Promise<ReembedJob>;
  /**
   * Copies the next page of pending rows (ids after `afterId`, at most `limit`) in one
   * transaction; returns how many were listed (0: the pass is over), written, and the last id.
   */
  copyPage(transform: RelayoutTransform, afterId: string | null, limit: number): Promise<{ listed: number; written: number; lastId: string | null }>;
  counts(transform: RelayoutTransform): Promise<{ total: number; done: number }>;
  prune(): Promise<number>;
  compare(transform: RelayoutTransform): Promise<ReembedStoreCount[]>;
  spotCheck(job: ReembedJob): Promise<SpotCheck[]>;
  /**
   * The swap under the lock: the rows still pending copied with the transform `transformFor`
   * gives for the fingerprints the table holds now, deleted rows pruned, the row counts compared
   * (with no row pending and no side row left over, equal counts mean equal tables; E_REEMBED
   * otherwise: nothing changes), then the renames.
   */
  swap(job: ReembedJob, transformFor: (fingerprints: string[]) => RelayoutTransform, options?: LockOptions): Promise<RelayoutSwapResult>;
  /** Times a copy of the first `rows` rows into a temporary table and its HNSW build; rolls back. */
  probe(transform: RelayoutTransform, rows: number, distance: 'cosine' | 'l2'): Promise<RelayoutProbe>;
  abort(job: ReembedJob): Promise<void>;
}
