import { MigrateError, toMigrateError } from '../errors.js';
import type { LockOptions, NewPcaModel, Sink } from '../sink/types.js';
import type { Projector } from '../transform/pca/index.js';
import type { EmbeddingSpace } from '../transform/embeddingSpace.js';
import type { Vectorizer } from '../transform/vectorize.js';
import type { RunObserver } from './events.js';
import { executeStore, type StoreLoads, type StoreOutcome } from './executeStore.js';
import { storeLabel } from '../storeLabel.js';
import type { MigrationPlan, PlannedStore } from './plan.js';
import { projectedWith, type RunVectors } from './reductionStep.js';
import type { StoreReport } from './report.js';
import { failedReport, notStartedReport, reasonOf } from './storeReports.js';

/** Why a loop over the stores ended before the last one ('interrupted': by the signal). */
export type LoopStop = { kind: 'interrupted'; reason: string } | { kind: 'failed'; store: PlannedStore } | { kind: 'disk-full'; store: PlannedStore; message: string };

export interface LoopResult {
  outcomes: StoreOutcome[];
  stop: LoopStop | null;
}

export interface LoopDependencies {
  loads: StoreLoads;
  vectorizer: Vectorizer;
  /** The space of what `vectorizer` produces. */
  space: EmbeddingSpace;
  observe: RunObserver;
  now?: () => Date;
  signal?: AbortSignal;
  /** Records each store's outcome in the ledger as it ends; absent when the outcome is known only later (a refit). */
  record?: (report: StoreReport) => Promise<void>;
}

/**
 * Executes the plan's stores one after another. It stops before a store once the signal is
 * aborted (the rest are reported not started, unless `stopOnFailure`: a refit rolls back whole),
 * after a store that met a full disk (the next ones would meet it too), and with
 * `stopOnFailure` after the first failed store.
 */
export async function loadStores(plan: MigrationPlan, deps: LoopDependencies, stopOnFailure: boolean): Promise<LoopResult> {
  const outcomes: StoreOutcome[] = [];
  const { signal, observe } = deps;
  for (const [i, s] of plan.stores.entries()) {
    if (signal?.aborted === true) {
      if (!stopOnFailure) for (const rest of plan.stores.slice(i)) outcomes.push({ report: notStartedReport(rest.report, signal), vectorizeMs: 0, loadMs: 0, sample: [] });
      return { outcomes, stop: { kind: 'interrupted', reason: reasonOf(signal) } };
    }
    observe({ type: 'store-start', userId: s.store.userId, collection: s.store.collection, position: i + 1, of: plan.stores.length });
    const outcome = await executeStore(plan, s, deps);
    outcomes.push(outcome);
    observe({ type: 'store-done', store: outcome.report });
    const { error, status } = outcome.report;
    if (stopOnFailure && status === 'failed') return { outcomes, stop: { kind: 'failed', store: s } };
    await deps.record?.(outcome.report);
    if (error?.code === 'E_DISK_FULL') return { outcomes, stop: { kind: 'disk-full', store: s, message: error.message } };
  }
  return { outcomes, stop: null };
}

/** The error a loop that stopped at a full disk ends the run with (exit 2), rather than failing the next stores one by one. */
export function diskFullError(stop: Extract<LoopStop, { kind: 'disk-full' }>): MigrateError {
  return new MigrateError('E_DISK_FULL', `the run stops: ${storeLabel(stop.store.store)} failed: ${stop.message}`);
}

export interface RefitResult {
  outcomes: StoreOutcome[];
  /** The space the stores were (or were being) loaded in: what the ledger records. */
  space: EmbeddingSpace;
  /** The new model, when the transaction committed. */
  pcaModelId: string | null;
}

/**
 * --refit-pca: the new model and every store's re-projected rows commit together or not at all,
 * so search never sees two PCA spaces in one table. A store that fails (or the signal) ends the
 * loop with that result, and the transaction is then rolled back; every other store is reported
 * rolled back.
 */
export async function refitInOneTransaction(
  plan: MigrationPlan,
  sink: Pick<Sink, 'transaction'>,
  pca: { pending: NewPcaModel; projector: Projector },
  deps: Omit<LoopDependencies, 'loads' | 'vectorizer' | 'space' | 'record'>,
): Promise<RefitResult> {
  const loaded: { vectors: RunVectors; result: LoopResult | null } = { vectors: { vectorizer: plan.vectorizer, space: plan.space }, result: null };
  const lock: LockOptions = {
    lock: plan.config.noWait ? 'no-wait' : 'wait',
    onWait: () => deps.observe({ type: 'waiting-table', table: plan.target.table, reason: 'other runs are loading this table; the refit rewrites all of it, so it waits for them to finish' }),
  };
  try {
    const saved = await sink.transaction(plan.target, async (session) => {
      const record = await session.pcaModels.save(pca.pending);
      loaded.vectors = projectedWith(loaded.vectors, pca.projector, record);
      loaded.result = await loadStores(plan, { ...deps, loads: session.loads, ...loaded.vectors }, true);
      const { stop } = loaded.result;
      // Throwing is how a transaction is rolled back; the reason is the loop's result, read below.
      if (stop !== null) throw stop.kind === 'interrupted' ? new MigrateError('E_INTERRUPTED', `the run was interrupted (${stop.reason})`) : new MigrateError('E_LOAD', `refit aborted: ${storeLabel(stop.store.store)} failed`);
      return record;
    }, lock);
    return { outcomes: loaded.result?.outcomes ?? [], space: loaded.vectors.space, pcaModelId: saved.id };
  } catch (err) {
    const ran = new Map((loaded.result?.outcomes ?? []).map((o, i) => [plan.stores[i], o]));
    const stop = loaded.result?.stop;
    const firstFailure = stop?.kind === 'failed' ? stop.store : null;
    const why = firstFailure === null ? toMigrateError(err, 'E_LOAD', 'refit').message : `${storeLabel(firstFailure.store)} failed`;
    const code = firstFailure === null && err instanceof MigrateError && err.code === 'E_INTERRUPTED' ? 'E_INTERRUPTED' : 'E_LOAD';
    const rolledBack = new MigrateError(code, `rolled back: --refit-pca rewrites the whole table in one transaction and ${why}; nothing was changed`);
    const outcomes = plan.stores.map((s) => {
      const outcome = ran.get(s) ?? { report: s.report, vectorizeMs: 0, loadMs: 0, sample: [] };
      return s === firstFailure ? outcome : { ...outcome, report: failedReport(outcome.report, rolledBack) };
    });
    return { outcomes, space: loaded.vectors.space, pcaModelId: null };
  }
}
