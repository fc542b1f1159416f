import type { DatabaseConfig } from '../config.js';
import { withSink } from './resources.js';

export interface SetupRlsConfig {
  database: DatabaseConfig;
  table: string;
}

export interface SetupRlsResult {
  table: string;
  /** False when the table already had RLS enabled, forced and the policy: nothing was changed. */
  changed: boolean;
}

/**
 * `setup-rls`: row-level security on a table an earlier migrate created (what `migrate --rls`
 * does for a new one). Idempotent; see README, "Row-level security".
 */
export function runSetupRls(config: SetupRlsConfig): Promise<SetupRlsResult> {
  return withSink(config.database, { readOnly: false, purpose: 'setup-rls' }, async (sink) => ({ table: config.table, ...(await sink.schema.enableRls({ table: config.table })) }));
}
