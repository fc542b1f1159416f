import type { DatabaseConfig } from '../config.js';
import type { SearchSetup } from '../sink/types.js';
import { withSink } from './resources.js';

export interface SetupSearchConfig {
  database: DatabaseConfig;
  /** Set the default of this role's connections (in the current database) instead of the database's. */
  role: string | null;
}

/**
 * `setup-search`: ordinary client connections (psql, LangChain.js, the application) scan HNSW
 * indexes iteratively, so per-user top-k returns k rows, as `query` and `verify` do on their own.
 * Idempotent; see README, "Searching from other clients".
 */
export function runSetupSearch(config: SetupSearchConfig): Promise<SearchSetup> {
  return withSink(config.database, { readOnly: false, purpose: 'setup-search' }, (sink) => sink.schema.setupSearch(config.role === null ? {} : { role: config.role }));
}
