/**
 * Every setting, built once: flags > environment > defaults. One module a concern under config/;
 * this file keeps `./config.js` the one import for the rest of the code and for src/index.ts.
 */
export { DEFAULTS, DTYPES, type EmbeddingDtype } from './config/defaults.js';
export { nonEmpty } from './config/flagValues.js';
export { masterKeys, type Environment } from './config/environment.js';
export { databaseConfig, type DatabaseConfig } from './config/database.js';
export { modelConfig, type ModelConfig } from './config/model.js';
export { type ReductionConfig } from './config/reduction.js';
export { backupStamp, buildMigrateConfig, sourceConfig, type EmbeddingsMode, type MigrateConfig, type MigrateFlags } from './config/migrate.js';
export { buildQueryConfig, type QueryConfig, type QueryFlags } from './config/query.js';
export { buildReembedConfig, type ReembedAction, type ReembedConfig, type ReembedFlags } from './config/reembed.js';
export { buildRelayoutConfig, DEFAULT_RELAYOUT_PAGE_ROWS, type RelayoutAction, type RelayoutConfig, type RelayoutFlags, type RelayoutRequest } from './config/relayout.js';
export { buildWorkerConfig, queuePolicy, type EnqueueFlags, type WorkerConfig, type WorkerFlags } from './config/queue.js';
