import type { ErrorCode } from '../errors.js';

export type StoreStatus = 'ok' | 'failed' | 'skipped';

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

export interface RunReport {
  runId: string;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  root: string;
  table: string;
  model: string;
  dimensions: number;
  database: DatabaseSummary;
  stores: StoreReport[];
  totals: { stores: number; ok: number; failed: number; skipped: number; rowsLoaded: number; rowsPlanned: number; rowsSkipped: number; embedded: number; embedMs: number; loadMs: number };
  estimate: DryRunEstimate | null;
}

/** 0: every store succeeded; 1: at least one failed. (2, for usage and connection errors, comes from the CLI.) */
export function exitCodeOf(report: RunReport): 0 | 1 {
  return report.stores.some((s) => s.status === 'failed') ? 1 : 0;
}
