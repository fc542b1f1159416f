import type { DatabaseInfo } from '../sink/types.js';
import type { Embedder } from '../transform/embedder.js';
import type { RunObserver } from './events.js';
import type { StoreOutcome } from './executeStore.js';
import type { MigrationPlan } from './plan.js';
import type { DatabaseSummary, DryRunEstimate, RunReport, StoreReport } from './report.js';
import { isNotStarted } from './storeReports.js';

/** What the end of a run adds to its plan and outcomes. */
export interface RunEnd {
  finishedAt: Date;
  /** The PCA model the rows were projected with, once saved (null in a dry run or a rolled-back refit). */
  pcaModelId: string | null;
  estimate: DryRunEstimate | null;
  /** Warnings of the run's end (the index build, ANALYZE), after the plan's. */
  warnings: readonly string[];
  searchIndex?: { built: boolean; ms: number };
  /** The signal's reason, when it stopped the run. */
  interruptedBy: string | null;
}

export function summarize(info: DatabaseInfo): DatabaseSummary {
  const { driver, location, serverVersion, pgvectorVersion, tableExists, tableDimensions, willBeCreated } = info;
  return { driver, location, serverVersion, pgvectorVersion, tableExists, tableDimensions, willBeCreated };
}

/** Every store's report, failed validations included, in discovery order. */
export function storeReportsOf(plan: MigrationPlan, outcomes: readonly StoreOutcome[]): StoreReport[] {
  return [...plan.failed, ...outcomes.map((o) => o.report)];
}

/** The run's report: a function of its plan, the stores' outcomes and how it ended. */
export function reportOf(plan: MigrationPlan, outcomes: readonly StoreOutcome[], end: RunEnd): RunReport {
  const { config } = plan;
  const reports = storeReportsOf(plan, outcomes);
  const all = [...reports, ...plan.skipped].sort((a, b) => a.path.localeCompare(b.path));
  const sum = (f: (r: StoreReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  const count = (status: StoreReport['status']) => all.filter((s) => s.status === status).length;
  return {
    runId: plan.runId,
    dryRun: config.dryRun,
    startedAt: plan.startedAt.toISOString(),
    finishedAt: end.finishedAt.toISOString(),
    root: config.root,
    table: config.table,
    model: plan.vectorizer.label,
    embeddings: config.embeddings,
    dimensions: plan.target.dimensions,
    reduction: end.pcaModelId === null ? plan.reduction : { ...plan.reduction, pcaModelId: end.pcaModelId },
    database: summarize(plan.database),
    stores: all,
    totals: {
      stores: all.length,
      ok: count('ok'),
      failed: count('failed'),
      skipped: count('skipped'),
      unchanged: count('unchanged'),
      rowsReused: sum((r) => r.rowsReused),
      rowsLoaded: sum((r) => r.rowsLoaded),
      rowsPlanned: sum((r) => r.rowsPlanned),
      rowsSkipped: sum((r) => r.rowsSkipped),
      vectorizeMs: Math.round(outcomes.reduce((n, o) => n + o.vectorizeMs, 0)),
      loadMs: Math.round(outcomes.reduce((n, o) => n + o.loadMs, 0)),
    },
    estimate: end.estimate,
    warnings: [...plan.warnings, ...end.warnings],
    ...(end.searchIndex === undefined ? {} : { searchIndex: end.searchIndex }),
    ...(end.interruptedBy === null ? {} : { interrupted: { reason: end.interruptedBy, storesNotStarted: reports.filter(isNotStarted).length } }),
  };
}

/** Dry run: how long embedding the planned rows would take, timed on the texts the stores sampled. */
export async function estimate(plan: MigrationPlan, embedder: Embedder | null, outcomes: readonly StoreOutcome[], observe: RunObserver): Promise<DryRunEstimate | null> {
  const { config } = plan;
  if (!config.dryRun || embedder === null || config.embeddings === 'keep') return null;
  const rowsToEmbed = storeReportsOf(plan, outcomes).reduce((n, r) => n + r.rowsPlanned, 0);
  const sample = outcomes.flatMap((o) => o.sample).slice(0, config.dryRunSampleSize);
  if (sample.length === 0) return { sampleSize: 0, docsPerSecond: 0, rowsToEmbed, estimatedSeconds: 0 };
  observe({ type: 'estimate-start', sampleSize: sample.length });
  // The first call pays for graph optimisation and allocation; it would inflate the estimate.
  await embedder.embed(sample.slice(0, 1));
  const started = performance.now();
  for (let i = 0; i < sample.length; i += config.batchSize) await embedder.embed(sample.slice(i, i + config.batchSize));
  const seconds = (performance.now() - started) / 1000;
  const docsPerSecond = sample.length / Math.max(seconds, 1e-6);
  return { sampleSize: sample.length, docsPerSecond, rowsToEmbed, estimatedSeconds: rowsToEmbed / docsPerSecond };
}
