/**
 * pgvector-migrate as a library: the same operations the CLI runs, for batch jobs.
 * Each stage is usable alone (discover/read in source, extract/embed in transform, load in sink).
 */
export { MigrateError, isMigrateError, type ErrorCode } from './errors.js';
export { Secret } from './secret.js';
export { redactUrl } from './sink/redact.js';
export { buildMigrateConfig, buildQueryConfig, DEFAULTS, type MigrateConfig, type QueryConfig, type MigrateFlags, type QueryFlags, type Environment } from './config.js';
export { migrateConfigOf, type MigrateOptions, type TableSourceOptions } from './migrateOptions.js';
export { buildReembedConfig, type ReembedConfig, type ReembedFlags, type DatabaseConfig, type ModelConfig } from './config.js';
export { migrate, type MigrateCallOptions, type Logger } from './library.js';
export { migrate as migrateWithConfig, runMigration, type RunDependencies } from './run/migrate.js';
export { planMigration, type MigrationPlan, type PlannedStore, type PlanningReads, type PlanningDependencies, type PcaStep } from './run/plan.js';
export { executeStore, type StoreOutcome, type StoreDependencies, type StoreLoads } from './run/executeStore.js';
export { reportOf, type RunEnd } from './run/runReport.js';
export { openRun, closeRun, recorder, type RunOpening, type RunClosing } from './run/runLedger.js';
export { runQuery, type QueryResult } from './run/query.js';
export { runVerify, type VerifyResult, type Mismatch } from './run/verify.js';
export { runStatus, type StatusConfig, type StatusResult } from './run/status.js';
export { runRollback, type RollbackConfig, type RollbackStoreResult } from './run/rollback.js';
export { reembed, runReembed, abortReembed, swapBackReembed, type ReembedReport, type ReembedEvent, type ReembedObserver, type ReembedDeps } from './run/reembed.js';
export { relayout, runRelayout, planRelayout, abortRelayout, swapBackRelayout, describeLayout, type RelayoutReport, type RelayoutPlan, type RelayoutEvent, type RelayoutObserver, type RelayoutLayout } from './run/relayout.js';
export { buildRelayoutConfig, type RelayoutConfig, type RelayoutFlags, type RelayoutRequest } from './config.js';
export { runDoctor, type DoctorConfig, type DoctorResult } from './run/doctor.js';
export { runSetupRls, type SetupRlsConfig, type SetupRlsResult } from './run/setupRls.js';
export { runSetupSearch, type SetupSearchConfig } from './run/setupSearch.js';
export type { RunEvent, RunObserver } from './run/events.js';
export { exitCodeOf, type RunReport, type StoreReport, type DryRunEstimate } from './run/report.js';

export { discoverStores } from './source/discover.js';
export { inspectStore, readStoreRecords, type StoreManifest, type SourceRecord } from './source/store.js';
export { readPickledVectors, inspectPickledVectors, type PickleInfo } from './source/pickle/index.js';
export { readMetadataEntries } from './source/metadata.js';
export { deriveUserKey, masterKeyBytes, type FernetKey } from './source/keys.js';
export { KeyRing, keyCandidates, type KeyCandidate } from './source/keyRing.js';
export { backupStore, type BackupManifest } from './source/backup.js';
export type { StoreLocation, DiscoveryEvent, StoredVector, MetadataEntry } from './source/types.js';
export type { MappedValue, TableMapping, TableReader, TableRecord, TableSourceConfig, TableStoreInspection, TableStoreKey } from './source/tableTypes.js';
export { discoverTableStores } from './source/tableStore.js';
export { parseTableMapping, tableSourceConfig, type TableSourceFlags } from './config/tableSource.js';
export { openTableReader, type TableReaderOptions } from './sink/tableSource.js';

export { extractEntry, TEXT_KEYS } from './transform/extract.js';
export { rowId, sha256Hex, ROW_ID_NAMESPACE } from './transform/rowId.js';
export { createEmbedder, type Embedder, type EmbedderOptions } from './transform/embedder.js';
export { rowBatches } from './transform/rows.js';
export { reembedding, keepingStored, projecting, type Vectorizer } from './transform/vectorize.js';
export { modelSpace, keptSpace, projectedSpace, truncatedSpace, serializeSpace, parseSpace, type EmbeddingSpace, type ModelIdentity } from './transform/embeddingSpace.js';
export { planReduction, type ReductionPlan, type ReduceMode } from './transform/reduction.js';
export { projectForSearch, createSearchProjector, fitReduction, measureQuality } from './transform/pcaFit.js';
export { fitPca, parsePcaModel, serializePcaModel, type PcaModel } from './transform/pca/index.js';
export { exportPca, importPca, type PcaFileConfig } from './run/pcaCommands.js';
export { fromPcaModelRecord, evaluationRows } from './run/pcaModelRecord.js';

export { openSink } from './sink/index.js';
export type { Sink, DocumentRow, TargetSpec, DatabaseInfo, SearchHit, SearchSetup, LoadResult, StoreKey } from './sink/types.js';
