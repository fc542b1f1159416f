/**
 * Advisory locks that keep two runs from interleaving on the same store. All are transaction
 * locks (pg_advisory_xact_lock*): the server releases them at COMMIT or ROLLBACK, so a crashed
 * run cannot leave one behind.
 *
 * - table lock, shared by each store's load or rollback, exclusive for a rewrite of the whole
 *   table (a PCA refit): a refit never interleaves with anything on that table;
 * - store lock, exclusive: two loads (or a load and a rollback) of one (user, collection).
 *
 * 'no-wait' tries once and fails with E_LOCKED; 'wait' (default) tries first, and only when the
 * lock is held calls `onWait` (once per operation, whichever lock it waits for) before blocking.
 *
 * PGlite is one backend in this process: every operation runs in that single session, whose
 * advisory locks never conflict with themselves, so on PGlite these locks never block and
 * 'no-wait' never fails. Operations of one process still never interleave there: PGlite runs one
 * transaction at a time (its transaction() holds the instance's mutex until COMMIT), and a
 * PGlite data directory is meant for one process at a time (it is a library, not a server). So
 * on PGlite the locks are process-local; exclusion between processes is the caller's business.
 */
import { MigrateError } from '../errors.js';
import type { SqlRunner } from './driver.js';
import type { ResolvedTable } from './identifiers.js';
import { sqlFile } from './sqlFiles.js';
import type { LockOptions, StoreKey } from './types.js';
import { storeLabel } from '../storeLabel.js';

export interface LockRequest {
  key: string;
  shared: boolean;
  /** The E_LOCKED error of 'no-wait' mode when the lock is held. */
  held: () => MigrateError;
}

/**
 * What lock keys call a table: its OID when it exists, so that every spelling of one table
 * (`docs`, `public.docs`) locks the same keys; otherwise its quoted name (the caller then fails
 * on the missing table anyway).
 */
export async function tableIdentity(db: SqlRunner, table: ResolvedTable): Promise<string> {
  const { rows } = await db.query<{ oid: string | null }>(sqlFile('queries/table_identity.sql'), [table.regclassText]);
  const oid = rows[0]?.oid;
  return oid === null || oid === undefined ? `name ${table.regclassText}` : `oid ${oid}`;
}

/** Advisory-lock key of a whole table: shared by each store's load, exclusive for a rewrite. */
export function tableLockKey(identity: string): string {
  return `pgvector-migrate table ${identity}`;
}

/** Advisory-lock key of one store of a table; JSON keeps `a b`+`c` and `a`+`b c` apart. */
export function storeLockKey(identity: string, key: StoreKey): string {
  return `pgvector-migrate store ${identity} ${JSON.stringify([key.userId, key.collection])}`;
}

/**
 * The locks a load or rollback of one store takes, in this order (every writer takes them in the
 * same order: no deadlock). `identity`: tableIdentity of the table.
 */
export function storeLocks(table: ResolvedTable, identity: string, key: StoreKey): LockRequest[] {
  return [
    {
      key: tableLockKey(identity),
      shared: true,
      held: () =>
        new MigrateError('E_LOCKED', `${table.display} is being rewritten by another run (table lock held, e.g. a PCA refit); re-run later or without --no-wait`),
    },
    {
      key: storeLockKey(identity, key),
      shared: false,
      held: () => new MigrateError('E_LOCKED', `${storeLabel(key)} is being written by another run (lock held); re-run later or without --no-wait`),
    },
  ];
}

/** The exclusive table lock of a rewrite of the whole table. */
export function tableRewriteLock(table: ResolvedTable, identity: string): LockRequest {
  return {
    key: tableLockKey(identity),
    shared: false,
    held: () => new MigrateError('E_LOCKED', `${table.display} is being written by another run (table lock held); re-run later or without --no-wait`),
  };
}

/** Takes `requests` in order inside the caller's transaction, as `options` says (see above). */
export async function takeLocks(tx: SqlRunner, requests: readonly LockRequest[], options: LockOptions = {}): Promise<void> {
  const mode = options.lock ?? 'wait';
  if (mode !== 'wait' && mode !== 'no-wait') throw new MigrateError('E_USAGE', `unknown lock mode ${JSON.stringify(mode)}: expected wait or no-wait`);
  let waited = false;
  for (const request of requests) {
    const { rows } = await tx.query<{ locked: boolean }>(sqlFile(request.shared ? 'queries/lock_try_shared.sql' : 'queries/lock_try.sql'), [request.key]);
    if (rows[0]?.locked === true) continue;
    if (mode === 'no-wait') throw request.held();
    if (!waited) {
      waited = true;
      options.onWait?.();
    }
    await tx.query(sqlFile(request.shared ? 'queries/lock_shared.sql' : 'queries/lock.sql'), [request.key]);
  }
}
