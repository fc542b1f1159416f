/**
 * One store's load, as a handle (the way pg-copy-streams hands back a Writable): opening it takes
 * the store's locks, checks the table, opens the staging table and starts the COPY; `write` sends
 * batches into that COPY; `commit` replaces the store's rows and checks the counts; `abort` rolls
 * everything back. Nothing of a load is visible to others before its commit.
 */
import { MigrateError } from '../errors.js';
import { missingTable, type Guard } from './access.js';
import { BatchChannel } from './batchChannel.js';
import type { DriverTransaction } from './driver.js';
import { quoteIdent } from './identifiers.js';
import { storeLocks, tableIdentity, takeLocks } from './locks.js';
import { lookupStored } from './readRepository.js';
import { planReplacement, recordReplacement } from './replacements.js';
import { assertCompatible, assertLoadable, readTableShape } from './schema.js';
import { COLUMN_SQL } from './columns.js';
import { sqlFile } from './sqlFiles.js';
import { storeLabel } from '../storeLabel.js';
import type { Target } from './target.js';
import type { DocumentRow, EmbeddingFingerprint, LoadOptions, LoadResult, StoreKey, TargetSpec } from './types.js';

/**
 * A store being loaded. Calls are awaited one at a time. A writer neither committed nor aborted
 * holds its transaction and the store's locks (on PGlite: the whole database), so every path
 * must end in `commit` or `abort`. A failed `write` or `commit` has rolled back already.
 */
export interface StoreWriter {
  /** The store's stored embeddings of `shas` made as `fingerprint` says, as they were before this load. */
  lookup(shas: readonly string[], fingerprint: EmbeddingFingerprint): Promise<Map<string, Float32Array>>;
  /** Sends one batch (rows of this store, of the target's dimension); resolves when the COPY has taken it. */
  write(batch: readonly DocumentRow[]): Promise<void>;
  /** Ends the COPY, replaces the store's rows (saving them to `_previous` with a run id), commits. */
  commit(): Promise<LoadResult>;
  /** Rolls back everything written; idempotent, and nothing after a commit. */
  abort(): Promise<void>;
}

/** Session-local (temp) table name; dropped after each store, and ON COMMIT DROP as a backstop. */
const STAGING = quoteIdent('pgvector_migrate_staging');

/** A load inside a transaction someone else commits: the writer's body, without BEGIN/COMMIT. */
export interface StoreLoad {
  lookup: StoreWriter['lookup'];
  write: StoreWriter['write'];
  /** Ends the COPY and replaces the store's rows (the transaction stays open). */
  finish(): Promise<LoadResult>;
  /** Fails the COPY and waits for it to stop; the caller then rolls the transaction back. */
  cancel(): Promise<void>;
}

export function storeContext(t: Target, key: StoreKey): string {
  return `loading ${storeLabel(key)} into ${t.table.display}`;
}

/** Locks, checks, plans the replacement and starts the COPY of one store inside `tx`. */
export async function startLoad(tx: DriverTransaction, guard: Guard, t: Target, key: StoreKey, options: LoadOptions): Promise<StoreLoad> {
  const store = storeLabel(key);
  await takeLocks(tx, storeLocks(t.table, await tableIdentity(tx, t.table), key), options);
  const shape = await readTableShape(tx, t.table);
  if (!shape.exists) throw missingTable(t.table);
  assertCompatible(shape, t.table, t.dimensions, t.vectorType);
  assertLoadable(shape, t.table);
  // Checked before any row is sent (and embedded): a run that could not keep what it replaces
  // fails now, not after the whole store went through the model.
  const runId = options.runId;
  const plan = runId === undefined ? null : await planReplacement(tx, t, key, runId);
  const record = () => (runId === undefined || plan === null ? Promise.resolve(null) : recordReplacement(tx, t, key, runId, plan));

  const { rows: how } = await tx.query<{ direct: boolean }>(sqlFile('queries/store_direct_load.sql', { table: t.table.quoted }), [t.table.regclassText, key.userId, key.collection]);
  // Nothing to replace: the rows are COPYed straight into the table, written once instead of
  // twice (staging, then INSERT ... SELECT): measured 1.4x faster (BENCHMARKS.md). The
  // replacement is still recorded (with no rows saved) so that rollback empties the store.
  const direct = how[0]?.direct === true;
  if (direct) {
    const saved = await record();
    if (saved !== null && saved !== 0) throw new MigrateError('E_LOAD', `${store}: rows appeared in the store while it was being loaded; rolled back`);
  } else {
    await tx.exec(sqlFile('queries/create_staging.sql', { staging: STAGING, table: t.table.quoted }));
  }

  const channel = new BatchChannel<readonly DocumentRow[]>();
  const copying = tx.copyBinary(direct ? t.table.quoted : STAGING, channel, { vectorType: t.vectorType });
  // A COPY that fails while a batch waits to be taken fails that write. Both promises are
  // observed later (by write, finish or cancel), so neither may count as unhandled meanwhile.
  const copyFailure = copying.then(() => new Promise<never>(() => undefined));
  copying.catch(() => undefined);
  copyFailure.catch(() => undefined);
  let sent = 0;
  // pg: the COPY holds this transaction's connection, so reads go through another (committed data).
  const reader = tx.readerDuringCopy();
  const spec: TargetSpec = { table: t.table.display, dimensions: t.dimensions, vectorType: t.vectorType };

  return {
    lookup: (shas, fingerprint) => lookupStored(reader, guard, t.table, spec, key, shas, fingerprint),
    async write(batch) {
      checkBatch(batch, key, t.dimensions);
      if (batch.length === 0) return;
      sent += batch.length;
      try {
        await Promise.race([channel.push(batch), copyFailure]);
      } catch (error) {
        // A push fails when the COPY stopped pulling: then the COPY's own error (a full disk, a
        // refused row) is what went wrong, not the push after it. The COPY has ended by then
        // (writes are awaited one at a time, so the channel ended), so awaiting it cannot hang.
        throw await copying.then(() => error, (copyError: unknown) => copyError);
      }
    },
    async finish() {
      channel.close();
      const copied = await copying;
      if (direct) {
        if (copied !== sent) throw new MigrateError('E_LOAD', `${store}: the server loaded ${copied} rows but ${sent} were sent; rolled back`);
        return { rowsLoaded: copied, rowsReplaced: 0 };
      }
      if (copied !== sent) throw new MigrateError('E_LOAD', `${store}: the server staged ${copied} rows but ${sent} were sent`);
      const saved = await record();
      const deleted = await tx.query(sqlFile('queries/delete_store.sql', { table: t.table.quoted }), [key.userId, key.collection]);
      if (saved !== null && saved !== deleted.rowCount) throw new MigrateError('E_LOAD', `${store}: kept ${saved} replaced rows but deleted ${deleted.rowCount}; rolled back`);
      const inserted = await tx.query(sqlFile('queries/insert_staged.sql', { table: t.table.quoted, staging: STAGING, copy_columns: COLUMN_SQL.copy_columns }));
      if (inserted.rowCount !== sent) throw new MigrateError('E_LOAD', `${store}: inserted ${inserted.rowCount} rows but ${sent} were sent; rolled back`);
      // Dropped now so that the same transaction can load another store.
      await tx.exec(sqlFile('queries/drop_staging.sql', { staging: STAGING }));
      return { rowsLoaded: inserted.rowCount, rowsReplaced: deleted.rowCount };
    },
    async cancel() {
      channel.fail(new MigrateError('E_LOAD', `the load of ${store} was aborted`));
      await copying.catch(() => undefined);
    },
  };
}

/**
 * Refuses rows that belong to another store (they would escape the DELETE that replaces this one)
 * or have another dimension.
 */
function checkBatch(batch: readonly DocumentRow[], key: StoreKey, dimensions: number): void {
  for (const row of batch) {
    if (row.userId !== key.userId || row.collection !== key.collection) {
      throw new MigrateError('E_LOAD', `row ${row.sourceIndex} belongs to ${storeLabel(row)}, not to the store ${storeLabel(key)} being loaded`);
    }
    if (row.embedding.length !== dimensions) {
      throw new MigrateError('E_DIM_MISMATCH', `row ${row.sourceIndex} of ${storeLabel(key)} has ${row.embedding.length} dimensions; the table expects ${dimensions}`);
    }
  }
}
