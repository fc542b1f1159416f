/** Rows runs replaced (`<table>_previous`, migration_replacements) and putting them back. */
import { MigrateError } from '../errors.js';
import type { SinkAccess } from './access.js';
import { checkRunId } from './ledgerRows.js';
import { storeLocks, tableIdentity, takeLocks } from './locks.js';
import { purgeReplacedRows, replacedStores, rollbackStoreRows } from './replacements.js';
import { storeLabel } from '../storeLabel.js';
import { checkTable } from './target.js';
import type { LockOptions, RollbackResult, StoreKey, TableRef } from './types.js';

export interface RollbackRepository {
  /**
   * Undoes `runId`'s replacement of one store in ONE transaction (the store's rows back exactly as
   * they were); E_ROLLBACK, nothing changed, when that is not safe (see README, "Rollback").
   * Takes the same locks as a load.
   */
  rollbackStore(target: TableRef, key: StoreKey, runId: string, options?: LockOptions): Promise<RollbackResult>;
  /** The stores `runId` replaced that can still be rolled back, by user then collection. Reads only. */
  storesReplacedBy(target: TableRef, runId: string): Promise<StoreKey[]>;
  /** Deletes rows replaced more than `olderThanDays` days ago from `<table>_previous`; returns how many. */
  purgePrevious(target: TableRef, olderThanDays: number): Promise<number>;
}

export function rollbackRepository(access: SinkAccess): RollbackRepository {
  const { db, guard } = access;
  return {
    async rollbackStore(target, key, runId, options = {}) {
      const t = checkTable(target);
      checkRunId(runId);
      access.writable('roll back a store');
      return guard('E_ROLLBACK', `rolling back run ${runId} for ${storeLabel(key)} of ${t.table.display}`, () =>
        db.transaction(async (tx) => {
          // The same locks as a load of the store: no load, rollback or refit of it meanwhile.
          await takeLocks(tx, storeLocks(t.table, await tableIdentity(tx, t.table), key), options);
          return rollbackStoreRows(tx, t, key, runId);
        }),
      );
    },

    async storesReplacedBy(target, runId) {
      const t = checkTable(target);
      checkRunId(runId);
      return guard('E_LOAD', `reading the stores run ${runId} replaced in ${t.table.display}`, () => replacedStores(db, t, runId));
    },

    async purgePrevious(target, olderThanDays) {
      const t = checkTable(target);
      if (typeof olderThanDays !== 'number' || !Number.isFinite(olderThanDays) || olderThanDays < 0) {
        throw new MigrateError('E_USAGE', `the age of the rows to purge must be a number of days >= 0, not ${String(olderThanDays)}`);
      }
      access.writable('purge replaced rows');
      return guard('E_LOAD', `purging ${t.previous.display}`, () => db.transaction((tx) => purgeReplacedRows(tx, t, olderThanDays)));
    },
  };
}
