import { DEFAULTS, type MigrateConfig } from '../config.js';
import type { Sink } from '../sink/types.js';
import type { Embedder } from '../transform/embedder.js';
import type { RunObserver } from './events.js';
import { diskFullError, loadStores, refitInOneTransaction, type LoopDependencies, type LoopResult } from './loadStores.js';
import { planMigration, type MigrationPlan } from './plan.js';
import { projectedWith, type RunVectors } from './reductionStep.js';
import type { RunReport } from './report.js';
import { withEmbedder, withSink, withTableReader } from './resources.js';
import type { TableReader } from '../source/tableTypes.js';
import { closeRun, openRun, recorder, type RunClosing, type RunOpening } from './runLedger.js';
import { estimate, reportOf, storeReportsOf, summarize, type WithFp32 } from './runReport.js';
import { reasonOf, wasInterrupted } from './storeReports.js';

export interface RunDependencies {
  sink: Sink;
  /** The embedding model; null in keep mode, which needs none. */
  embedder: Embedder | null;
  now?: () => Date;
  /**
   * Stops the run between stores: the store being written finishes (or rolls back), no other
   * starts, the deferred index build is skipped, the ledger run ends 'interrupted' and the report
   * says so (`interrupted`). Validation (read-only) and a PCA fit are not cut short.
   */
  signal?: AbortSignal;
  /** A dry run with a dtype other than fp32: the model's fp32 embedder, for the quality report. */
  withFp32?: WithFp32;
  /** The open source table of a --from-table run (config.tableSource). */
  table?: TableReader | null;
}

interface Loaded extends LoopResult {
  pcaModelId: string | null;
}

/** The run-start event, then the skipped directories and the stores that failed validation. */
function announce(plan: MigrationPlan, observe: RunObserver): void {
  const { config } = plan;
  observe({ type: 'run-start', runId: plan.runId, dryRun: config.dryRun, root: config.root, table: config.table, model: plan.vectorizer.label, dimensions: plan.target.dimensions, database: summarize(plan.database), stores: plan.stores.length + plan.failed.length, skipped: plan.skipped.length });
  for (const s of plan.skipped) observe({ type: 'skipped', path: s.path, reason: s.warnings[0] ?? '' });
  for (const r of plan.failed) observe({ type: 'store-done', store: r });
}

/** Loads every store with the run's vectorizer: projected by the saved (or reused) PCA model, or inside one transaction for a refit. */
async function loadAll(plan: MigrationPlan, sink: Sink, loop: Omit<LoopDependencies, 'loads' | 'vectorizer' | 'space' | 'record'>): Promise<Loaded> {
  const { pca } = plan;
  const run = async (vectors: RunVectors) => loadStores(plan, { ...loop, loads: sink.loads, ...vectors, record: recorder(plan, sink, vectors.space) }, false);
  const unprojected: RunVectors = { vectorizer: plan.vectorizer, space: plan.space };
  if (plan.config.dryRun || pca.kind === 'none') return { ...(await run(unprojected)), pcaModelId: null };
  if (pca.kind === 'refit') {
    const refit = await refitInOneTransaction(plan, sink, pca, loop);
    const record = recorder(plan, sink, refit.space);
    for (const o of refit.outcomes) await record(o.report);
    return { outcomes: refit.outcomes, stop: null, pcaModelId: refit.pcaModelId };
  }
  const saved = pca.kind === 'save' ? await sink.pcaModels.save(pca.pending) : pca.record;
  return { ...(await run(projectedWith(unprojected, pca.projector, saved))), pcaModelId: saved.id };
}

/**
 * Runs a migration with a sink (and, to re-embed, an embedder) that the caller owns. Usage and
 * connection problems throw (MigrateError) before anything is written; a store's problems are
 * recorded in its report and the run goes on. A PCA refit is the exception: it rewrites the whole
 * table in one transaction, so one failing store rolls every store back.
 */
export async function runMigration(config: MigrateConfig, deps: RunDependencies, observe: RunObserver = () => {}): Promise<RunReport> {
  const now = deps.now ?? (() => new Date());
  const { sink, signal } = deps;
  const plan = await planMigration(config, { sink, embedder: deps.embedder, observe, now, table: deps.table ?? null });
  const opening: RunOpening = { schemaReady: false, runStarted: false };
  let loaded: Loaded = { outcomes: [], stop: null, pcaModelId: null };
  let closing: RunClosing;
  try {
    announce(plan, observe);
    await openRun(plan, sink, opening);
    loaded = await loadAll(plan, sink, { observe, now, ...(signal === undefined ? {} : { signal }) });
    // The next stores would meet the same full disk: the run stops (exit 2) rather than fail them one by one.
    if (loaded.stop?.kind === 'disk-full') throw diskFullError(loaded.stop);
  } finally {
    if (plan.pca.kind !== 'none') await plan.pca.projector.dispose();
    closing = await closeRun(plan, sink, opening, storeReportsOf(plan, loaded.outcomes), loaded.stop, signal);
  }
  const interrupted = closing.stopped || wasInterrupted(storeReportsOf(plan, loaded.outcomes));
  const report = reportOf(plan, loaded.outcomes, {
    estimate: await estimate(plan, deps.embedder, loaded.outcomes, observe, deps.withFp32),
    finishedAt: now(),
    pcaModelId: loaded.pcaModelId,
    warnings: closing.warnings,
    ...(closing.searchIndex === undefined ? {} : { searchIndex: closing.searchIndex }),
    interruptedBy: signal !== undefined && interrupted ? reasonOf(signal) : null,
  });
  observe({ type: 'run-done', report });
  return report;
}

/**
 * Opens the database (and, to re-embed, the model) from the configuration, runs, and closes them.
 * `options.signal` stops the run between stores (RunDependencies.signal).
 */
export function migrate(config: MigrateConfig, observe?: RunObserver, options: { signal?: AbortSignal } = {}): Promise<RunReport> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  // The source table is opened (and its mapping checked) before the target: a wrong --map fails before anything else.
  return withTableReader(config.tableSource, { withVectors: config.embeddings === 'keep', targetTable: config.table }, (table) =>
    withSink(config.database, { readOnly: config.dryRun, purpose: 'migrate' }, (sink) =>
      config.embeddings === 'keep'
        ? runMigration(config, { sink, embedder: null, ...signal, table }, observe)
        : withEmbedder(config.model, (embedder) => runMigration(config, { sink, embedder, ...signal, ...fp32Reference(config), table }, observe)),
    ),
  );
}

/** A dry run of another dtype compares it with fp32 on the estimate's sample (DryRunEstimate.dtypeQuality). */
function fp32Reference(config: MigrateConfig): Pick<RunDependencies, 'withFp32'> {
  if (!config.dryRun || (config.model.dtype ?? DEFAULTS.dtype) === 'fp32') return {};
  return { withFp32: (fn) => withEmbedder({ ...config.model, dtype: 'fp32' }, fn) };
}
