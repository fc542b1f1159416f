/** Loads: one store's rows replaced in one transaction, through a StoreWriter. */
import { MigrateError } from '../errors.js';
import type { Guard, SinkAccess } from './access.js';
import type { DriverTransaction } from './driver.js';
import { checkRunId } from './ledgerRows.js';
import { startLoad, storeContext, type StoreLoad, type StoreWriter } from './storeWriter.js';
import { checkTarget, type Target } from './target.js';
import type { DocumentRow, LoadOptions, LoadResult, StoreKey, TargetSpec } from './types.js';

export interface LoadRepository {
  /**
   * Opens the load of one store (locks, checks, staging, COPY); see StoreWriter. With
   * `options.runId` the rows replaced are kept in `<table>_previous` for rollbackStore.
   */
  openStore(target: TargetSpec, key: StoreKey, options?: LoadOptions): Promise<StoreWriter>;
  /** openStore, every batch written, commit (abort if anything throws). */
  replaceStore(target: TargetSpec, key: StoreKey, batches: AsyncIterable<readonly DocumentRow[]>, options?: LoadOptions): Promise<LoadResult>;
}

/** Each store in a transaction of its own. */
export function loadRepository(access: SinkAccess): LoadRepository {
  const { db, guard } = access;
  const openStore = async (target: TargetSpec, key: StoreKey, options: LoadOptions = {}): Promise<StoreWriter> => {
    const t = checkTarget(target);
    access.writable('load rows');
    if (options.runId !== undefined) checkRunId(options.runId);
    const context = storeContext(t, key);
    return guard('E_LOAD', context, async () => {
      let opened!: (load: StoreLoad) => void;
      let ended!: (how: 'commit' | 'abort') => void;
      const loaded = new Promise<StoreLoad>((resolve) => (opened = resolve));
      const end = new Promise<'commit' | 'abort'>((resolve) => (ended = resolve));
      // The transaction's callback stays suspended on `end` (PGlite's transactions are
      // callback-scoped); the writer's commit or abort settles it.
      const done = db.transaction(async (tx) => {
        const load = await startLoad(tx, guard, t, key, options);
        opened(load);
        if ((await end) === 'commit') return load.finish();
        await load.cancel();
        throw ABORTED;
      });
      done.catch(() => undefined);
      const load = await Promise.race([loaded, done.then(() => Promise.reject(new MigrateError('E_INTERNAL', `${context}: the transaction ended before the load opened`)))]);
      return writer(guard, context, load, {
        commit: () => {
          ended('commit');
          return done;
        },
        abort: async () => {
          ended('abort');
          await done.catch((error: unknown) => {
            if (error !== ABORTED) throw error;
          });
        },
      });
    });
  };
  return { openStore, replaceStore: (target, key, batches, options) => writeAll(guard, openStore, target, key, batches, options) };
}

/** The loads of a transaction's session (Sink.transaction): stores commit with the transaction. */
export function sessionLoads(tx: DriverTransaction, guard: Guard, hold: SessionHold): LoadRepository {
  const openStore = async (target: TargetSpec, key: StoreKey, options: LoadOptions = {}): Promise<StoreWriter> => {
    const release = hold.begin();
    try {
      if (options.runId !== undefined) checkRunId(options.runId);
      const t: Target = checkTarget(target);
      const context = storeContext(t, key);
      const load = await guard('E_LOAD', context, () => startLoad(tx, guard, t, key, options));
      return writer(guard, context, load, {
        commit: async () => {
          try {
            const result = await load.finish();
            release(null);
            return result;
          } catch (error) {
            release({ error });
            throw error;
          }
        },
        // Part of a store cannot be undone inside the transaction: the whole of it rolls back.
        abort: async (cause) => {
          await load.cancel();
          release({ error: cause ?? new MigrateError('E_LOAD', `${context}: aborted; the transaction rolls back`) });
        },
      });
    } catch (error) {
      release({ error });
      throw error;
    }
  };
  return { openStore, replaceStore: (target, key, batches, options) => writeAll(guard, openStore, target, key, batches, options) };
}

/** How a session's operation holds the session: `release(null)` when it succeeded, else its failure. */
export interface SessionHold {
  begin(): (failure: { error: unknown } | null) => void;
}

const ABORTED = Symbol('store writer aborted');

/** The writer over a load: one call at a time, and any failure rolls the load back. */
/** `end.abort(cause)`: the failure that ended the writer, when it was not its caller's abort. */
function writer(guard: Guard, context: string, load: StoreLoad, end: { commit(): Promise<LoadResult>; abort(cause?: unknown): Promise<void> }): StoreWriter {
  let state: 'open' | 'busy' | 'committed' | 'aborted' = 'open';
  const abort = async (cause?: unknown): Promise<void> => {
    if (state === 'committed' || state === 'aborted') return;
    state = 'aborted';
    await guard('E_LOAD', context, () => end.abort(cause));
  };
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    if (state !== 'open') throw new MigrateError('E_INTERNAL', `${context}: cannot ${what}: the writer is ${state === 'busy' ? 'busy (await each call before the next)' : state}`);
    state = 'busy';
    try {
      const result = await guard('E_LOAD', context, fn);
      state = 'open';
      return result;
    } catch (error) {
      state = 'open';
      await abort(error).catch(() => undefined);
      throw error;
    }
  };
  return {
    lookup: (shas, fingerprint) => step('look up embeddings', () => load.lookup(shas, fingerprint)),
    write: (batch) => step('write', () => load.write(batch)),
    commit: async () => {
      const result = await step('commit', () => end.commit());
      state = 'committed';
      return result;
    },
    abort: () => abort(),
  };
}

async function writeAll(
  guard: Guard,
  openStore: LoadRepository['openStore'],
  target: TargetSpec,
  key: StoreKey,
  batches: AsyncIterable<readonly DocumentRow[]>,
  options: LoadOptions | undefined,
): Promise<LoadResult> {
  const w = await openStore(target, key, options);
  // Errors of `batches` are reported like the sink's own, with the store's context.
  return guard('E_LOAD', storeContext(checkTarget(target), key), async () => {
    try {
      for await (const batch of batches) await w.write(batch);
      return await w.commit();
    } catch (error) {
      await w.abort();
      throw error;
    }
  });
}
