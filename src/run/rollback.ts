import { randomUUID } from 'node:crypto';
import type { DatabaseConfig } from '../config.js';
import { MigrateError, toMigrateError } from '../errors.js';
import type { StoreKey, StoreOutcome } from '../sink/types.js';
import { TOOL_VERSION } from '../version.js';
import { storeLabel } from '../storeLabel.js';
import { withSink } from './resources.js';

export interface RollbackConfig {
  database: DatabaseConfig;
  table: string;
  runId: string;
}

export interface RollbackStoreResult {
  userId: string;
  collection: string;
  status: 'restored' | 'refused' | 'failed';
  restored: number;
  removed: number;
  reason: string | null;
}

/**
 * Restores, store by store (one transaction each), the rows a run replaced. The sink refuses a
 * store written again by a later run: undoing the earlier run would silently undo the later one.
 */
export function runRollback(config: RollbackConfig): Promise<{ rollbackRunId: string; stores: RollbackStoreResult[] }> {
  return withSink(config.database, { readOnly: false, purpose: 'rollback' }, async (sink) => {
    const run = await sink.ledger.getRun(config.runId, { table: config.table });
    if (run === null) throw new MigrateError('E_USAGE', `run ${config.runId} is not in the ledger of ${config.table}'s database (dry runs are never recorded)`);
    const target = await sink.schema.describeTable({ table: config.table });
    if (target === null) throw new MigrateError('E_USAGE', `table ${config.table} does not exist`);
    const keys: StoreKey[] = await sink.rollback.storesReplacedBy(target, config.runId);
    const rollbackRunId = randomUUID();
    await sink.ledger.startRun({ id: rollbackRunId, toolVersion: TOOL_VERSION, options: { rollbackOf: config.runId, table: config.table } }, target);
    const results: RollbackStoreResult[] = [];
    for (const key of keys) {
      const base = { userId: key.userId, collection: key.collection, restored: 0, removed: 0 };
      const started = performance.now();
      try {
        const r = await sink.rollback.rollbackStore(target, key, config.runId);
        results.push({ ...base, status: 'restored', restored: r.restored, removed: r.removed, reason: null });
        await sink.ledger.recordStore(outcome(rollbackRunId, config.runId, config.table, key, r.restored, Math.round(performance.now() - started)));
      } catch (err) {
        // The sink refuses (E_ROLLBACK) what cannot be undone safely, e.g. a store a later run wrote.
        // Not recorded as a store outcome: the store is as the run left it, not a failed load to retry.
        const e = toMigrateError(err, 'E_LOAD', `rolling back ${storeLabel(key)}`);
        results.push({ ...base, status: e.code === 'E_ROLLBACK' ? 'refused' : 'failed', reason: `${e.code}: ${e.message}` });
      }
    }
    await sink.ledger.finishRun(rollbackRunId, results.some((r) => r.status !== 'restored') ? 'failed' : 'succeeded', target);
    return { rollbackRunId, stores: results };
  });
}

function outcome(runId: string, undoneRunId: string, table: string, key: StoreKey, rows: number, durationMs: number): StoreOutcome {
  return {
    runId,
    table,
    userId: key.userId,
    collection: key.collection,
    status: 'rolled-back',
    entries: null,
    rowsLoaded: rows,
    rowsSkipped: 0,
    rowsReused: 0,
    errorCode: null,
    errorMessage: null,
    sourceSha256: null,
    embeddingModel: `rollback of run ${undoneRunId}`,
    backupPath: null,
    durationMs,
  };
}
