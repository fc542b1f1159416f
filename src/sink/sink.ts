/**
 * The Sink: the repositories of one database, each over the same Driver, so the pg and PGlite
 * paths run the same SQL files and cannot drift apart.
 */
import { MigrateError } from '../errors.js';
import { missingTable, SinkAccess } from './access.js';
import type { Driver } from './driver.js';
import { ledgerRepository, type LedgerRepository } from './ledgerRepository.js';
import { loadRepository, sessionLoads, type LoadRepository, type SessionHold } from './loadRepository.js';
import { tableIdentity, tableRewriteLock, takeLocks } from './locks.js';
import { insertModel, pcaModelRepository, type PcaModelRepository } from './pcaModelRepository.js';
import { readRepository, type ReadRepository } from './readRepository.js';
import { SqlReembedding } from './reembedRepository.js';
import { SqlRelayout } from './relayoutRepository.js';
import type { Relayout } from './relayout.js';
import { rollbackRepository, type RollbackRepository } from './rollbackRepository.js';
import { assertCompatible, assertLoadable, readTableShape } from './schema.js';
import { schemaRepository, type SchemaRepository } from './schemaRepository.js';
import { checkTable, checkTarget } from './target.js';
import type { LockOptions, Reembedding, TableRef, TargetSpec } from './types.js';

/** What one transaction of Sink.transaction can do; everything commits together. */
export interface SinkSession {
  readonly loads: LoadRepository;
  readonly pcaModels: Pick<PcaModelRepository, 'save'>;
}

/** The only thing the pipeline knows about the database; all SQL lives behind it. */
export interface Sink {
  readonly driver: 'pg' | 'pglite';
  /** Where the data lives, without secrets (host:port/db, or the PGlite directory). */
  readonly location: string;
  readonly schema: SchemaRepository;
  readonly loads: LoadRepository;
  readonly ledger: LedgerRepository;
  readonly rollback: RollbackRepository;
  readonly pcaModels: PcaModelRepository;
  readonly reads: ReadRepository;
  /** Re-embedding of one documents table into its side table, and the swap (see Reembedding). */
  reembedding(table: TableRef): Reembedding;
  /** Re-layout (partitions, vector type, dimension) of one documents table through the same side table and swap (see Relayout). */
  relayout(table: TableRef): Relayout;
  /**
   * Runs `fn` in ONE transaction holding `target`'s table exclusively (other loads of it wait):
   * all of the session's loads and saved models commit when `fn` resolves, none when anything
   * throws or a session operation failed (even if `fn` caught it). Operations one at a time.
   * E_SCHEMA if the table does not exist; `options.lock` 'no-wait': E_LOCKED instead of waiting.
   */
  transaction<T>(target: TargetSpec, fn: (session: SinkSession) => Promise<T>, options?: LockOptions): Promise<T>;
  close(): Promise<void>;
}

export function createSink(db: Driver): Sink {
  const access = new SinkAccess(db);
  const { guard } = access;
  return {
    driver: db.name,
    location: db.location,
    schema: schemaRepository(access),
    loads: loadRepository(access),
    ledger: ledgerRepository(access),
    rollback: rollbackRepository(access),
    pcaModels: pcaModelRepository(access),
    reads: readRepository(access),
    reembedding: (table) => new SqlReembedding(db, guard, checkTable(table).table),
    relayout: (table) => new SqlRelayout(db, guard, checkTable(table).table),
    async transaction(target, fn, options = {}) {
      const t = checkTarget(target);
      access.writable('rewrite a table');
      return guard('E_LOAD', `transaction on ${t.table.display}`, () =>
        db.transaction(async (tx) => {
          // Exclusive: loads of this table by other sessions (shared mode) wait until this commits,
          // so nothing interleaves with a rewrite of the whole table.
          await takeLocks(tx, [tableRewriteLock(t.table, await tableIdentity(tx, t.table))], options);
          const shape = await readTableShape(tx, t.table);
          if (!shape.exists) throw missingTable(t.table);
          assertCompatible(shape, t.table, t.dimensions, t.vectorType);
          assertLoadable(shape, t.table);

          const state = new SessionState();
          const session: SinkSession = {
            loads: sessionLoads(tx, guard, state),
            pcaModels: { save: (model) => state.run(() => guard('E_LOAD', `saving the PCA model of ${model.table}`, () => insertModel(tx, model))) },
          };
          // Called through a promise so that a synchronous throw from `fn` also ends the session.
          return state.finish(Promise.resolve(session).then(fn));
        }),
      );
    },
    close: () => db.close(),
  };
}

/**
 * Keeps a transaction's session honest: operations run one at a time (they share one
 * connection), none after the transaction ended, and none after one failed. A failed operation
 * dooms the transaction even if `fn` catches its error: a half-done store (rows deleted, say)
 * must never be committed.
 */
class SessionState implements SessionHold {
  #open = true;
  #busy = false;
  #failure: { error: unknown } | null = null;

  /** Starts an operation that ends when the returned function is called (once). */
  begin(): (failure: { error: unknown } | null) => void {
    if (!this.#open) throw new MigrateError('E_INTERNAL', 'the transaction has ended; its session cannot be used any more');
    if (this.#busy) throw new MigrateError('E_INTERNAL', 'operations of one transaction must run one after another (await each before starting the next)');
    if (this.#failure !== null) throw new MigrateError('E_INTERNAL', 'an earlier operation of this transaction failed; the transaction will be rolled back');
    this.#busy = true;
    let ended = false;
    return (failure) => {
      if (ended) return;
      ended = true;
      this.#busy = false;
      if (failure !== null) this.#failure ??= failure;
    };
  }

  async run<T>(operation: () => Promise<T>): Promise<T> {
    const end = this.begin();
    try {
      const result = await operation();
      end(null);
      return result;
    } catch (error) {
      end({ error });
      throw error;
    }
  }

  /** The result of the transaction's function, or a throw (and so a rollback) if anything failed. */
  async finish<T>(work: Promise<T>): Promise<T> {
    try {
      const result = await work;
      if (this.#failure !== null) throw this.#failure.error;
      if (this.#busy) throw new MigrateError('E_INTERNAL', 'the transaction function returned while one of its operations was still running');
      return result;
    } finally {
      this.#open = false;
    }
  }
}
