import type { MigrateConfig } from '../config.js';
import { storeLabel } from '../sink/storeLabel.js';
import type { StoreOutcome, VectorType } from '../sink/types.js';
import type { StoreLocation } from '../source/types.js';
import { fingerprintOf, type Vectorizer } from '../transform/vectorize.js';
import type { StoreReport } from './report.js';

/** One store label for the whole tool: the sink's. */
export { storeLabel };

/**
 * What produced a table's vectors (model and its file hash, pooling, dimensions, column type, PCA
 * model). A store is "unchanged" only if its files and this fingerprint match its last successful load.
 */
export function vectorFingerprint(vectorizer: Pick<Vectorizer, 'fingerprint'>, vectorType: VectorType): string {
  return fingerprintOf(vectorizer, vectorType);
}

/** The run's options as the ledger keeps them: everything a support engineer needs, no secret. */
export function ledgerOptions(config: MigrateConfig, driverLocation: string): Record<string, unknown> {
  return {
    root: config.root,
    table: config.table,
    database: driverLocation,
    masterKey: config.masterKeys.length === 0 ? 'none (default per-user keys)' : `${config.masterKeys.length} given (not recorded)`,
    tryDefaultKey: config.tryDefaultKey,
    model: config.embeddings === 'keep' ? null : config.model.id,
    embeddings: config.embeddings,
    keptLabel: config.embeddings === 'keep' ? config.keptLabel : null,
    batchSize: config.batchSize,
    users: config.users,
    collections: config.collections,
    retryFailed: config.retryFailed,
    force: config.force,
    reduction: { ...config.reduction },
    backupDir: config.backupDir,
    keepPreviousDays: config.keepPreviousDays,
    partitions: config.partitions,
    rls: config.rls,
    ownerInMetadata: config.ownerInMetadata,
  };
}

export function toOutcome(runId: string, table: string, report: StoreReport, fingerprint: string): StoreOutcome {
  return {
    runId,
    table,
    userId: report.userId,
    collection: report.collection,
    status: report.status === 'unchanged' ? 'unchanged' : report.status === 'ok' ? 'ok' : 'failed',
    entries: report.entries,
    rowsLoaded: report.rowsLoaded,
    rowsSkipped: report.rowsSkipped,
    rowsReused: report.rowsReused,
    errorCode: report.error?.code ?? null,
    errorMessage: report.error?.message ?? null,
    sourceSha256: report.sourceSha256,
    embeddingModel: fingerprint,
    backupPath: report.backupPath,
    durationMs: report.durationMs,
  };
}

/** True when the store's latest outcome is a load of these very files with the same fingerprint. */
export function isUnchanged(latest: StoreOutcome | undefined, sourceSha256: string | null, fingerprint: string): boolean {
  return (
    latest !== undefined &&
    (latest.status === 'ok' || latest.status === 'unchanged') &&
    sourceSha256 !== null &&
    latest.sourceSha256 === sourceSha256 &&
    latest.embeddingModel === fingerprint
  );
}

/** Stores whose latest outcome is a failure, and those of them no longer found under the root. */
export function selectFailed(stores: StoreLocation[], latest: StoreOutcome[]): { selected: StoreLocation[]; missing: StoreOutcome[] } {
  const failed = new Map(latest.filter((o) => o.status === 'failed').map((o) => [storeLabel(o), o]));
  const selected = stores.filter((s) => failed.has(storeLabel(s)));
  const found = new Set(selected.map(storeLabel));
  return { selected, missing: [...failed.values()].filter((o) => !found.has(storeLabel(o))) };
}
