/** The re-embedding of a documents table into its side table (`reembed`): the records and the contract. */
import type { Distance, LockOptions, VectorType } from './types.js';

/** See Reembedding.spotCheck: the row checked, and what an exact search with its vector found. */
export interface SpotCheck {
  id: string;
  userId: string;
  collection: string;
  /** The nearest of the user's side rows (null: none). */
  foundId: string | null;
  /** Its distance (NaN for a vector that cannot be compared, e.g. a zero vector under cosine). */
  distance: number | null;
}

/** A re-embedding job as the ledger (`reembed_jobs`) records it. */
export interface ReembedJob {
  id: string;
  /** The documents table, unqualified (as the ledger keys tables). */
  table: string;
  /** The side table being filled (`<table>_reembed`), unqualified. */
  sideTable: string;
  /** The model as given (hub id or directory). */
  model: string;
  /**
   * The new vectors' embedding space as transform/embeddingSpace.ts `serializeSpace` writes it
   * (column `fingerprint`): every side row carries it in `embedding_fingerprint` when done.
   */
  serializedSpace: string;
  dimensions: number;
  vectorType: VectorType;
  distance: Distance;
  /** The side table's PCA model, when the new model's vectors are reduced. */
  pcaModelId: string | null;
  /** The job's options without secrets (model, reduction, the embedder's own fingerprint). */
  options: Record<string, unknown>;
  startedAt: string;
  status: 'running' | 'swapped' | 'aborted';
  /** After a swap: the retired table (`<table>_prev_<timestamp>`), unqualified. */
  previousTable: string | null;
  swappedAt: string | null;
  finishedAt: string | null;
}

export type NewReembedJob = Pick<ReembedJob, 'id' | 'model' | 'serializedSpace' | 'dimensions' | 'vectorType' | 'distance' | 'pcaModelId' | 'options'>;

/** A row of the documents table still waiting for its new vector. */
export interface ReembedPendingRow {
  id: string;
  userId: string;
  collection: string;
  text: string;
  /** Null for a row an application wrote. */
  contentSha256: string | null;
}

/** A new vector for a row, with the text it was computed from. */
export interface ReembedVector {
  id: string;
  text: string;
  embedding: Float32Array;
}

/** One store's rows in the documents table and in the side table. */
export interface ReembedStoreCount {
  userId: string;
  collection: string;
  tableRows: number;
  sideRows: number;
  /** Side rows without the job's fingerprint, or whose text is no longer the row's. */
  staleRows: number;
}

export interface SwapResult {
  /** The retired table, as it can be named (`schema.name` when the table is qualified). */
  previousTable: string;
  /** Rows embedded under the swap's lock (written after the last catch-up pass). */
  caughtUp: number;
  /** Side rows removed because their row was deleted from the documents table. */
  pruned: number;
  /** Side rows whose metadata, timestamps or store were brought up to date. */
  synced: number;
}

/**
 * A documents table's re-embedding: the side table `<table>_reembed` is filled with new vectors
 * computed from the table's own texts while applications keep reading and writing the table, then
 * swapped in by renaming both tables in one transaction. Nothing here embeds: callers pass vectors
 * (and a function embedding the rows found at the last moment, under the swap's lock).
 * Side rows take every column but the embedding (and what describes it) from the documents table.
 */
export interface Reembedding {
  /** The side table's name, as SQL would name it (schema-qualified when the table is). */
  readonly sideTable: string;
  /** The table's unfinished job, or null. Reads only. */
  current(): Promise<ReembedJob | null>;
  /** The table's latest swapped job (what --swap-back undoes), or null. Reads only. */
  lastSwapped(): Promise<ReembedJob | null>;
  /**
   * Records a new running job. The side table must exist already (ensureSchema with the side
   * table's spec). E_REEMBED when the table already has an unfinished job.
   */
  start(job: NewReembedJob): Promise<ReembedJob>;
  /**
   * Up to `limit` rows (of `users`, or all) that have no side row with the same text and the
   * job's fingerprint, by id after `afterId`. Rows done are never returned again: this is what
   * makes a job resumable and what its catch-up passes read.
   */
  pending(job: ReembedJob, options: { users?: readonly string[] | null; afterId?: string | null; limit: number }): Promise<ReembedPendingRow[]>;
  /** Rows of the table (of `users`, or all) and how many of them are done. */
  counts(job: ReembedJob, users?: readonly string[] | null): Promise<{ total: number; done: number }>;
  /**
   * Writes new vectors (one transaction): any side row of the same id is replaced, and rows whose
   * text changed since it was read are left out (they stay pending). Returns rows written.
   */
  write(job: ReembedJob, vectors: readonly ReembedVector[]): Promise<number>;
  /** Removes side rows whose row was deleted from the table since; returns how many. */
  prune(job: ReembedJob): Promise<number>;
  /** Per store, rows in the table and in the side table (every store of either). Reads only. */
  compare(job: ReembedJob): Promise<ReembedStoreCount[]>;
  /**
   * For one side row per user (its smallest id), the user's side row nearest to that row's own
   * vector by the job's distance, searched exactly (never through the approximate index). Reads only.
   */
  spotCheck(job: ReembedJob): Promise<SpotCheck[]>;
  /** Up to `size` texts of the table, a repeatable pseudo-random sample under `seed`. */
  sampleTexts(size: number, seed: number): Promise<string[]>;
  /**
   * The swap, in ONE transaction holding both tables exclusively: rows still pending are given to
   * `catchUp` and written, side rows of deleted rows removed, changed columns copied, the counts
   * checked (E_REEMBED on any difference: nothing changes), then the table is renamed
   * `<table>_prev_<timestamp>` and the side table takes its name, each with its indexes,
   * partitions and `_previous` table; the PCA models and rollback records follow their rows.
   */
  swap(job: ReembedJob, catchUp: (rows: ReembedPendingRow[]) => Promise<Float32Array[]>, options?: LockOptions): Promise<SwapResult>;
  /** Drops the unfinished job's side table (and its `_previous` and PCA models) and marks it aborted. */
  abort(job: ReembedJob): Promise<void>;
  /**
   * Undoes the latest swap in one transaction: the current table becomes the side table again
   * (its job running, ready to be checked and swapped in again, or aborted) and the retired table
   * gets the table's name back. E_REEMBED when there is no swap to undo or a side table exists.
   */
  swapBack(options?: LockOptions): Promise<{ restored: string; sideTable: string; job: ReembedJob }>;
}

/** A job's `options.kind`: what `relayout` records; a re-embedding's options have none. */
export const RELAYOUT_KIND = 'relayout';

export function isRelayoutJob(job: ReembedJob): boolean {
  return job.options['kind'] === RELAYOUT_KIND;
}
