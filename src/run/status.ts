import type { DatabaseConfig } from '../config.js';
import type { StoreOutcome } from '../sink/types.js';
import { withSink } from './resources.js';

export interface StatusConfig {
  database: DatabaseConfig;
  table: string;
  userId: string | null;
}

/** The latest outcome of every store the ledger knows (optionally one user's), failed ones first. */
export function runStatus(config: StatusConfig): Promise<StoreOutcome[]> {
  return withSink(config.database, { readOnly: true, purpose: 'status' }, async (sink) => {
    const outcomes = await sink.latestOutcomes({ table: config.table, ...(config.userId === null ? {} : { userId: config.userId }) });
    const rank = (o: StoreOutcome) => (o.status === 'failed' ? 0 : 1);
    return [...outcomes].sort((a, b) => rank(a) - rank(b) || a.userId.localeCompare(b.userId) || a.collection.localeCompare(b.collection));
  });
}

/** The root the table's latest run read, so `verify` needs no arguments after a migration. */
export function rootFromLedger(database: DatabaseConfig, table: string): Promise<string | null> {
  return withSink(database, { readOnly: true, purpose: 'verify (finding the root)' }, async (sink) => {
    for (const o of await sink.latestOutcomes({ table })) {
      const run = await sink.getRun(o.runId, { table });
      const root = run?.options['root'];
      if (typeof root === 'string') return root;
    }
    return null;
  });
}
