/**
 * The run ledger (migration_runs, migration_stores, in the documents table's schema). Writes need
 * the ledger (ensureSchema creates it; E_SCHEMA otherwise); reads answer "nothing" (null, []) when
 * it does not exist yet and never create it. `ledger` picks the schema: that table's, or the
 * search_path's first when absent (a run loading `s.docs` passes `{ table: 's.docs' }`).
 */
import { MigrateError } from '../errors.js';
import { firstRow, type SinkAccess } from './access.js';
import { ledgerOf, ledgerTables, quoteIdent, resolveTable, type LedgerTables, type SqlFragment } from './identifiers.js';
import { checkRunEnd, checkRunId, outcomeFromRow, outcomeParams, runFromRow, runParams, type NewRun, type OutcomeRow, type RunEnd, type RunRow } from './ledgerRows.js';
import { ledgerReady } from './migrations.js';
import { readTableShape, relationExists } from './schema.js';
import { sqlFile } from './sqlFiles.js';
import { checkTable } from './target.js';
import type { RunRecord, StoreKey, StoreOutcome, TableRef } from './types.js';
import { storeLabel } from '../storeLabel.js';

export interface LedgerRepository {
  /** Records a run as 'running', started now; the caller generates the id (a UUID). */
  startRun(run: NewRun, ledger?: TableRef): Promise<RunRecord>;
  /** Records one store's outcome (the latest counts); E_USAGE unless the run was started in that ledger. */
  recordStore(outcome: StoreOutcome): Promise<StoreOutcome>;
  /** Ends a run (status, finished_at); E_USAGE if the run is unknown. */
  finishRun(id: string, status: RunEnd, ledger?: TableRef): Promise<RunRecord>;
  getRun(id: string, ledger?: TableRef): Promise<RunRecord | null>;
  /** The latest outcome of each store (by recording order, never timestamps), by user then collection. */
  latestOutcomes(filter: { table: string; userId?: string; collection?: string }): Promise<StoreOutcome[]>;
  /** The latest 'ok' outcome of a store whose load was not rolled back since, or null. */
  lastSuccessfulLoad(table: TableRef | string, key: StoreKey): Promise<StoreOutcome | null>;
}

export function ledgerRepository(access: SinkAccess): LedgerRepository {
  const { db, guard } = access;

  const assertLedger = async (ledger: LedgerTables): Promise<void> => {
    if (!(await ledgerReady(db, ledger))) {
      throw new MigrateError('E_SCHEMA', `the run ledger ${ledger.runs.display} does not exist (or is older than this version); create the schema first (ensureSchema)`);
    }
  };
  /** The outcome reads' placeholders; null when they cannot run (a table they join is missing). */
  const outcomeSql = async (ledger: LedgerTables): Promise<Readonly<Record<string, SqlFragment>> | null> => {
    const stores = await readTableShape(db, ledger.stores);
    if (!stores.exists || !(await relationExists(db, ledger.replacements))) return null;
    // A ledger not yet through migration 005 (ensureSchema) still names the column embedding_model.
    return { ...ledger.sql, fingerprint: quoteIdent(stores.hasFingerprintColumn ? 'embedding_fingerprint' : 'embedding_model') };
  };

  return {
    async startRun(run, ledgerRef) {
      const ledger = ledgerFor(ledgerRef);
      const params = runParams(run);
      access.writable('record a run');
      return guard('E_LOAD', `recording run ${run.id} in ${ledger.runs.display}`, async () => {
        await assertLedger(ledger);
        const { rows } = await db.query<RunRow>(sqlFile('queries/run_insert.sql', ledger.sql), params);
        return runFromRow(firstRow(rows, 'run_insert.sql'));
      });
    },

    async recordStore(outcome) {
      const { table, ledger } = checkTable(outcome.table);
      const params = outcomeParams(outcome, table.name);
      access.writable('record a store outcome');
      return guard('E_LOAD', `recording the outcome of ${storeLabel(outcome)} in ${ledger.stores.display}`, async () => {
        await assertLedger(ledger);
        const { rows: known } = await db.query<{ present: boolean }>(sqlFile('queries/run_exists.sql', ledger.sql), [outcome.runId]);
        if (known[0]?.present !== true) throw unknownRun(ledger, outcome.runId);
        const { rows } = await db.query<{ recorded_at: unknown }>(sqlFile('queries/store_outcome_insert.sql', ledger.sql), params);
        const recordedAt = firstRow(rows, 'store_outcome_insert.sql').recorded_at;
        return { ...outcome, recordedAt: recordedAt instanceof Date ? recordedAt.toISOString() : String(recordedAt) };
      });
    },

    async finishRun(id, status, ledgerRef) {
      const ledger = ledgerFor(ledgerRef);
      checkRunId(id);
      const end = checkRunEnd(status);
      access.writable('record a run');
      return guard('E_LOAD', `finishing run ${id} in ${ledger.runs.display}`, async () => {
        await assertLedger(ledger);
        const { rows } = await db.query<RunRow>(sqlFile('queries/run_finish.sql', ledger.sql), [id, end]);
        const row = rows[0];
        if (row === undefined) throw unknownRun(ledger, id);
        return runFromRow(row);
      });
    },

    async getRun(id, ledgerRef) {
      const ledger = ledgerFor(ledgerRef);
      checkRunId(id);
      return access.readIfExists(ledger.runs, null, `reading run ${id} from ${ledger.runs.display}`, async () => {
        const { rows } = await db.query<RunRow>(sqlFile('queries/run_get.sql', ledger.sql), [id]);
        const row = rows[0];
        return row === undefined ? null : runFromRow(row);
      });
    },

    async latestOutcomes(filter) {
      const { table, ledger } = checkTable(filter.table);
      return guard('E_LOAD', `reading the ledger ${ledger.stores.display}`, async () => {
        const sql = await outcomeSql(ledger);
        if (sql === null) return [];
        const { rows } = await db.query<OutcomeRow>(sqlFile('queries/store_outcomes_latest.sql', sql), [table.name, filter.userId ?? null, filter.collection ?? null]);
        return rows.map((r) => outcomeFromRow(r, filter.table));
      });
    },

    async lastSuccessfulLoad(target, key) {
      const name = typeof target === 'string' ? target : target.table;
      const { table, ledger } = checkTable(name);
      return guard('E_LOAD', `reading the ledger ${ledger.stores.display}`, async () => {
        const sql = await outcomeSql(ledger);
        if (sql === null) return null;
        const { rows } = await db.query<OutcomeRow>(sqlFile('queries/store_outcome_last_ok.sql', sql), [table.name, key.userId, key.collection]);
        const row = rows[0];
        return row === undefined ? null : outcomeFromRow(row, name);
      });
    },
  };
}

/** The ledger a run's calls name: that table's schema, or the search_path's first. */
function ledgerFor(ref: TableRef | undefined): LedgerTables {
  return ref === undefined ? ledgerTables(null) : ledgerOf(resolveTable(ref.table));
}

function unknownRun(ledger: LedgerTables, id: string): MigrateError {
  return new MigrateError('E_USAGE', `run ${id} is not in the ledger ${ledger.runs.display}; start it there first (startRun with the same table)`);
}
