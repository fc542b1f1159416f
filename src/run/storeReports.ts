import path from 'node:path';
import { toMigrateError } from '../errors.js';
import type { StoreLocation } from '../source/types.js';
import { storeLabel } from '../storeLabel.js';
import type { StoreReport } from './report.js';

/** The report of a store before anything was read from it. */
export function emptyStoreReport(store: StoreLocation): StoreReport {
  return {
    userId: store.userId,
    collection: store.collection,
    // Not relative to store.dir: that is symlink-resolved, while the root may be reached through a link.
    path: store.format?.relPath ?? (store.table === undefined ? null : store.dir) ?? path.join(store.userId, `vector_store_${store.collection}`),
    status: 'ok',
    vectors: null,
    entries: null,
    storedDimensions: null,
    rowsLoaded: 0,
    rowsPlanned: 0,
    rowsSkipped: 0,
    rowsReused: 0,
    sourceSha256: null,
    key: null,
    skippedEntries: [],
    warnings: [],
    error: null,
    backupPath: null,
    durationMs: 0,
  };
}

/** The same report, failed with `err` (a store that fails loads nothing). */
export function failedReport(report: StoreReport, err: unknown): StoreReport {
  const e = toMigrateError(err, 'E_INTERNAL', storeLabel(report));
  return { ...report, status: 'failed', rowsLoaded: 0, error: { code: e.code, message: e.message } };
}

export function reasonOf(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return typeof r === 'string' ? r : r instanceof Error ? r.message : 'aborted';
}

/** A store the run did not start because it was interrupted: not a failure, not in the ledger. */
export function notStartedReport(report: StoreReport, signal: AbortSignal): StoreReport {
  const message = `not started: the run was interrupted (${reasonOf(signal)}); run it again to load this store`;
  return { ...report, status: 'skipped', warnings: [...report.warnings, message], error: { code: 'E_INTERRUPTED', message } };
}

export function isNotStarted(r: StoreReport): boolean {
  return r.status === 'skipped' && r.error?.code === 'E_INTERRUPTED';
}

/** Interrupted: some store was not started, or (refit) rolled back because of the signal. */
export function wasInterrupted(reports: readonly StoreReport[]): boolean {
  return reports.some((r) => isNotStarted(r) || (r.status === 'failed' && r.error?.code === 'E_INTERRUPTED'));
}

/** A store the user asked to retry that this run cannot find. */
export function missingRetryReport(o: { userId: string; collection: string; runId: string; errorCode: string | null }): StoreReport {
  const why = `failed in run ${o.runId} (${o.errorCode}) but is not among this run's stores (gone from the root, or filtered out)`;
  const location = { userId: o.userId, collection: o.collection, dir: '', vectorsPath: null, metadataPath: null };
  return { ...emptyStoreReport(location), status: 'skipped', warnings: [why], error: { code: 'E_USAGE', message: why } };
}
