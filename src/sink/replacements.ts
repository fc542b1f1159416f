/**
 * Rows replaced by a run, kept in `<table>_previous` and recorded in `migration_replacements`
 * (sql/migrations/002_replacements.sql), and their way back: rollback and purge. Every function
 * runs inside the caller's transaction, after the caller took the store's locks (locks.ts).
 *
 * Bookkeeping of a rollback: the restored rows are DELETED from `_previous` (they are in the
 * documents table again; a second copy could only go stale) and the replacement row gets
 * restored_at. A replacement is rolled back at most once; the latest one of a store first.
 */
import { MigrateError } from '../errors.js';
import type { DriverTransaction, SqlRunner } from './driver.js';
import { ledgerReady } from './migrations.js';
import { isoTime } from './ledgerRows.js';
import { assertLoadable, assertPreviousCompatible, assertPreviousLoadable, readTableShape, relationExists } from './schema.js';
import { COLUMN_SQL } from './columns.js';
import { sqlFile } from './sqlFiles.js';
import type { Target, TableTarget } from './target.js';
import type { RollbackResult, StoreKey } from './types.js';
import { storeLabel } from '../storeLabel.js';

interface ReplacementRow extends Record<string, unknown> {
  seq: unknown;
  rows_saved: unknown;
  restored_at: unknown;
  purged_at: unknown;
}

/** What a load with a run id does before deleting: save the rows (first time), or only note the new write. */
export type ReplacementPlan = { kind: 'first' } | { kind: 'again'; seq: string };

/**
 * Checks, before any row is sent, that the load can keep what it replaces: the ledger and
 * `_previous` exist (ensureSchema), the run is in the ledger, and, when the run replaced this
 * store before, that nothing replaced it in between. Locks the run's replacement row of the store
 * (FOR UPDATE) until the transaction ends.
 */
export async function planReplacement(tx: DriverTransaction, t: Target, key: StoreKey, runId: string): Promise<ReplacementPlan> {
  const store = storeLabel(key);
  if (!(await ledgerReady(tx, t.ledger))) {
    throw new MigrateError('E_SCHEMA', `the run ledger ${t.ledger.runs.display} does not exist (or is older than this version); create the schema of ${t.table.display} first (ensureSchema)`);
  }
  const previous = await readTableShape(tx, t.previous);
  if (!previous.exists) throw new MigrateError('E_SCHEMA', `table ${t.previous.display} does not exist; create the schema of ${t.table.display} first (ensureSchema)`);
  assertPreviousCompatible(previous, t.table, t.dimensions, t.vectorType);
  assertPreviousLoadable(previous, t.table);
  const { rows: known } = await tx.query<{ present: boolean }>(sqlFile('queries/run_exists.sql', t.ledger.sql), [runId]);
  if (known[0]?.present !== true) {
    throw new MigrateError('E_USAGE', `run ${runId} is not in the ledger ${t.ledger.runs.display}; start it there first (startRun with the table ${t.table.display})`);
  }
  const marker = await replacementOf(tx, t, key, runId);
  if (marker === null) return { kind: 'first' };
  if (marker.restored_at !== null) {
    throw new MigrateError('E_LOAD', `${store}: run ${runId} was rolled back for this store; start a new run to load it again`);
  }
  const newer = await newerReplacement(tx, t, key, String(marker.seq));
  if (newer !== null) {
    throw new MigrateError('E_LOAD', `${store}: run ${newer} replaced this store after run ${runId} did; run ${runId} cannot write it again (run ${newer}'s rows would be lost for good)`);
  }
  return { kind: 'again', seq: String(marker.seq) };
}

/**
 * Right before the load deletes the store's rows: copies them into `_previous` and records the
 * replacement (first write of the run), or moves the replacement's written_at (a later write).
 * Returns the number of rows saved, or null when the run had saved them before.
 */
export async function recordReplacement(tx: DriverTransaction, t: Target, key: StoreKey, runId: string, plan: ReplacementPlan): Promise<number | null> {
  if (plan.kind === 'again') {
    await tx.query(sqlFile('queries/replacement_written.sql', t.ledger.sql), [plan.seq]);
    return null;
  }
  const saved = await tx.query(sqlFile('queries/previous_save.sql', { previous: t.previous.quoted, table: t.table.quoted, row_columns: COLUMN_SQL.row_columns }), [key.userId, key.collection, runId]);
  await tx.query(sqlFile('queries/replacement_insert.sql', t.ledger.sql), [runId, t.table.name, key.userId, key.collection, saved.rowCount]);
  return saved.rowCount;
}

/** The body of Sink.rollbackStore (see there), inside the caller's transaction. */
export async function rollbackStoreRows(tx: DriverTransaction, t: TableTarget, key: StoreKey, runId: string): Promise<RollbackResult> {
  const store = storeLabel(key);
  const refuse = (detail: string): never => {
    throw new MigrateError('E_ROLLBACK', `cannot roll back run ${runId} for ${store} of ${t.table.display}: ${detail}; nothing was changed`);
  };
  if (!(await relationExists(tx, t.ledger.replacements))) refuse(`there is no run ledger (${t.ledger.replacements.display}), so nothing was kept`);
  const shape = await readTableShape(tx, t.table);
  if (!shape.exists) refuse(`table ${t.table.display} does not exist`);
  assertLoadable(shape, t.table);
  const previous = await readTableShape(tx, t.previous);
  if (!previous.exists) refuse(`table ${t.previous.display} does not exist, so nothing was kept`);
  assertPreviousCompatible(previous, t.table, shape.dimensions ?? 0, shape.vectorType ?? 'vector');
  assertPreviousLoadable(previous, t.table);

  const marker = await replacementOf(tx, t, key, runId);
  if (marker === null) return refuse('that run did not replace this store (or not with its run id)');
  if (marker.restored_at !== null) refuse(`it was rolled back already (${isoTime(marker.restored_at) ?? ''})`);
  if (marker.purged_at !== null) refuse(`the rows it replaced were purged (${isoTime(marker.purged_at) ?? ''})`);
  const seq = String(marker.seq);
  const newer = await newerReplacement(tx, t, key, seq);
  if (newer !== null) refuse(`run ${newer} replaced the store after it; roll back run ${newer} first`);
  const { rows: newerRows } = await tx.query<{ n: number }>(sqlFile('queries/rollback_newer_rows.sql', { table: t.table.quoted, replacements: t.ledger.replacements.quoted }), [
    key.userId,
    key.collection,
    seq,
  ]);
  const written = Number(newerRows[0]?.n ?? 0);
  if (written > 0) refuse(`${written} of its rows were written after the run (by a load without run id, or by the application) and would be lost`);

  const removed = await tx.query(sqlFile('queries/delete_store.sql', { table: t.table.quoted }), [key.userId, key.collection]);
  const restored = await tx.query(sqlFile('queries/rollback_restore.sql', { table: t.table.quoted, previous: t.previous.quoted, row_columns: COLUMN_SQL.row_columns }), [key.userId, key.collection, runId]);
  const expected = Number(marker.rows_saved);
  // The count was recorded with the rows; a difference means _previous was edited by hand (or
  // partly purged by something else): restoring part of a store would be worse than refusing.
  if (restored.rowCount !== expected) refuse(`${expected} rows were kept but ${restored.rowCount} are in ${t.previous.display}`);
  await tx.query(sqlFile('queries/previous_delete_restored.sql', { previous: t.previous.quoted }), [key.userId, key.collection, runId]);
  await tx.query(sqlFile('queries/replacement_restored.sql', t.ledger.sql), [seq]);
  return { restored: restored.rowCount, removed: removed.rowCount };
}

/** The body of Sink.purgePrevious, inside the caller's transaction. */
export async function purgeReplacedRows(tx: DriverTransaction, t: TableTarget, olderThanDays: number): Promise<number> {
  if (!(await relationExists(tx, t.previous))) return 0;
  // Replacements first (see purge_mark.sql): a rollback racing with the purge either finishes
  // before it, or finds its replacement purged; it never restores half a store.
  if (await relationExists(tx, t.ledger.replacements)) await tx.query(sqlFile('queries/purge_mark.sql', t.ledger.sql), [t.table.name, olderThanDays]);
  const deleted = await tx.query(sqlFile('queries/purge_previous.sql', { previous: t.previous.quoted }), [olderThanDays]);
  return deleted.rowCount;
}

/** Sink.storesReplacedBy. Reads only. */
export async function replacedStores(db: SqlRunner, t: TableTarget, runId: string): Promise<StoreKey[]> {
  if (!(await relationExists(db, t.ledger.replacements))) return [];
  const { rows } = await db.query<{ user_id: string; collection: string }>(sqlFile('queries/replaced_stores.sql', t.ledger.sql), [t.table.name, runId]);
  return rows.map((r) => ({ userId: r.user_id, collection: r.collection }));
}

async function replacementOf(tx: SqlRunner, t: TableTarget, key: StoreKey, runId: string): Promise<ReplacementRow | null> {
  const { rows } = await tx.query<ReplacementRow>(sqlFile('queries/replacement_get.sql', t.ledger.sql), [t.table.name, key.userId, key.collection, runId]);
  return rows[0] ?? null;
}

async function newerReplacement(tx: SqlRunner, t: TableTarget, key: StoreKey, seq: string): Promise<string | null> {
  const { rows } = await tx.query<{ run_id: string }>(sqlFile('queries/replacement_newer.sql', t.ledger.sql), [t.table.name, key.userId, key.collection, seq]);
  return rows[0]?.run_id ?? null;
}

