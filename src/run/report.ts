import type { ErrorCode } from '../errors.js';
import type { DtypeQuality } from '../transform/dtypeQuality.js';

/** 'unchanged': not loaded because its files and model match its last successful load (use --force). */
export type StoreStatus = 'ok' | 'failed' | 'skipped' | 'unchanged';

export interface SkippedEntry {
  index: number;
  reason: string;
}

export interface StoreReport {
  userId: string;
  collection: string;
  /** Path relative to the root, for stores and for skipped directories alike. */
  path: string;
  status: StoreStatus;
  /** What vectors.pkl holds (null when missing or unreadable). */
  vectors: number | null;
  /** What metadata.json holds (null when missing or unreadable). */
  entries: number | null;
  /** Dimension of the stored vectors (not of the re-embedded ones). */
  storedDimensions: number | null;
  /** Rows written to the table; 0 in a dry run. */
  rowsLoaded: number;
  /** Rows a dry run would write. */
  rowsPlanned: number;
  rowsSkipped: number;
  /** Rows whose stored embedding was reused (unchanged text, same model): not recomputed. */
  rowsReused: number;
  /** SHA-256 over the store's source files; null when they could not be read. */
  sourceSha256: string | null;
  /**
   * Which candidate key opened an encrypted metadata.json, by position: "master#1", "master#2",
   * ... or "default" (the application's default per-user key); never the key. null when the
   * file is plain JSON, or the store failed.
   */
  key: string | null;
  skippedEntries: SkippedEntry[];
  warnings: string[];
  error: { code: ErrorCode; message: string } | null;
  backupPath: string | null;
  durationMs: number;
}

export interface DryRunEstimate {
  sampleSize: number;
  docsPerSecond: number;
  rowsToEmbed: number;
  estimatedSeconds: number;
  /** With --dtype other than fp32: the sample's vectors against the model's fp32 vectors. */
  dtypeQuality?: DtypeQuality;
}

export interface DatabaseSummary {
  driver: 'pg' | 'pglite';
  location: string;
  serverVersion: string;
  pgvectorVersion: string | null;
  tableExists: boolean;
  tableDimensions: number | null;
  willBeCreated: boolean;
}

/** How vectors were fitted into pgvector's index limit, and what it cost in quality. */
export interface ReductionReport {
  method: 'none' | 'halfvec' | 'pca' | 'truncate';
  sourceDimensions: number;
  targetDimensions: number;
  /**
   * Share of the sample's variance the kept components explain (PCA), or of its squared norm the
   * kept numbers hold (truncate); 1 without reduction.
   */
  explainedVariance: number;
  /** Neighbour recall@10 of the reduced space against the full space (null without PCA or truncation, or with too few vectors). */
  recallAt10: number | null;
  fitMs: number;
  /** The PCA model used (null without PCA; in a dry run the model is fitted but not saved). */
  pcaModelId: string | null;
  /** True when the table's existing model was reused rather than fitted in this run. */
  reused: boolean;
  sampleSize: number | null;
  evaluation: 'held-out' | 'in-sample' | null;
  notes: string[];
}

export interface RunReport {
  runId: string;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  root: string;
  table: string;
  /** The model that re-embedded the texts, or the label of kept vectors (keep mode). */
  model: string;
  embeddings: 'reembed' | 'keep';
  /** Dimension of the table's vectors. */
  dimensions: number;
  reduction: ReductionReport;
  database: DatabaseSummary;
  stores: StoreReport[];
  totals: { stores: number; ok: number; failed: number; skipped: number; unchanged: number; rowsReused: number; rowsLoaded: number; rowsPlanned: number; rowsSkipped: number; vectorizeMs: number; loadMs: number };
  estimate: DryRunEstimate | null;
  /** Run-level warnings (e.g. a reduction whose recall is under 0.9). */
  warnings: string[];
  /**
   * The table's HNSW index, when this run built it after its loads (the table was new or had no
   * valid index): how long the build took. Absent when the index existed already, or dry run.
   */
  searchIndex?: { built: boolean; ms: number };
  /**
   * Present when the run's AbortSignal stopped it between stores: the signal's reason (the CLI
   * passes the signal's name) and how many stores were not started (status skipped, E_INTERRUPTED).
   */
  interrupted?: { reason: string; storesNotStarted: number };
}

/** 0: every store succeeded; 1: at least one failed. (2, for usage and connection errors, comes from the CLI.) */
export function exitCodeOf(report: RunReport): 0 | 1 {
  return report.stores.some((s) => s.status === 'failed') ? 1 : 0;
}
