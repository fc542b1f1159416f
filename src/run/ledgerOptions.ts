import type { MigrateConfig } from '../config.js';
import { storeLabel } from '../storeLabel.js';
import { describeUrl } from '../sink/redact.js';
import type { StoreOutcome } from '../sink/types.js';
import type { StoreLocation } from '../source/types.js';
import type { StoreReport } from './report.js';

/** What the ledger records as the source database of a table read from the target database itself. */
export const TARGET_DATABASE = 'the target database';

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
    // Where a table source is, never its password: `verify` is given --from-database again.
    ...(config.tableSource === null ? {} : { fromTable: { table: config.tableSource.table, database: config.tableSource.inTarget ? TARGET_DATABASE : describeUrl(config.tableSource.database.reveal()), map: config.tableSource.mappingText } }),
  };
}

/** `serializedSpace`: embeddingSpace.ts `serializeSpace` of the vectors the store was loaded with. */
export function toOutcome(runId: string, table: string, report: StoreReport, serializedSpace: string): StoreOutcome {
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
    embeddingModel: serializedSpace,
    backupPath: report.backupPath,
    durationMs: report.durationMs,
  };
}

/** True when the store's latest outcome is a load of these very files into the same (serialized) embedding space. */
export function isUnchanged(latest: StoreOutcome | undefined, sourceSha256: string | null, serializedSpace: string): boolean {
  return (
    latest !== undefined &&
    (latest.status === 'ok' || latest.status === 'unchanged') &&
    sourceSha256 !== null &&
    latest.sourceSha256 === sourceSha256 &&
    latest.embeddingModel === serializedSpace
  );
}

/** Stores whose latest outcome is a failure, and those of them no longer found under the root. */
export function selectFailed(stores: StoreLocation[], latest: StoreOutcome[]): { selected: StoreLocation[]; missing: StoreOutcome[] } {
  const failed = new Map(latest.filter((o) => o.status === 'failed').map((o) => [storeLabel(o), o]));
  const selected = stores.filter((s) => failed.has(storeLabel(s)));
  const found = new Set(selected.map(storeLabel));
  return { selected, missing: [...failed.values()].filter((o) => !found.has(storeLabel(o))) };
}
