import type { DatabaseSummary, ReductionReport, RunReport, StoreReport } from './report.js';

/** What a run tells its observer (the CLI renders these as a progress bar or as JSON lines). */
export type RunEvent =
  | { type: 'validating'; stores: number }
  | { type: 'sampling'; sampleSize: number; method: 'pca' | 'truncate' }
  | { type: 'reduction'; reduction: ReductionReport }
  | { type: 'run-start'; runId: string; dryRun: boolean; root: string; table: string; model: string; dimensions: number; database: DatabaseSummary; stores: number; skipped: number }
  | { type: 'store-start'; userId: string; collection: string; position: number; of: number }
  | { type: 'store-progress'; userId: string; collection: string; rowsDone: number; rowsTotal: number }
  | { type: 'waiting'; userId: string; collection: string; reason: string }
  /** A rewrite of the whole table (a PCA refit) waits for other runs' loads of it to end. */
  | { type: 'waiting-table'; table: string; reason: string }
  | { type: 'store-done'; store: StoreReport }
  | { type: 'skipped'; path: string; reason: string }
  | { type: 'estimate-start'; sampleSize: number }
  | { type: 'run-done'; report: RunReport };

export type RunObserver = (event: RunEvent) => void;
