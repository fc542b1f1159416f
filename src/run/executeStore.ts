import { MigrateError } from '../errors.js';
import type { LoadRepository } from '../sink/loadRepository.js';
import type { LoadOptions, LoadResult } from '../sink/types.js';
import { backupStore } from '../source/backup.js';
import { readStoreRecords } from '../source/store.js';
import { extractTexts, newRowStats, rowBatches } from '../transform/rows.js';
import { pcaModelOf, serializeSpace, spaceLabel, type EmbeddingSpace } from '../transform/embeddingSpace.js';
import { reusingStored, type Vectorizer } from '../transform/vectorize.js';
import type { RunObserver } from './events.js';
import { isUnchanged } from './ledgerOptions.js';
import { storeLabel } from '../storeLabel.js';
import type { MigrationPlan, PlannedStore } from './plan.js';
import type { StoreReport } from './report.js';
import { failedReport } from './storeReports.js';

export type { MigrationPlan, PlannedStore } from './plan.js';

/** Where one store's rows are written: the sink's loads, or those of a run-wide transaction's session (a refit). */
export type StoreLoads = Pick<LoadRepository, 'openStore'>;

export interface StoreDependencies {
  loads: StoreLoads;
  /** The run's vectorizer, projecting with the saved PCA model when the plan reduces by PCA (see `vectorizerOf`). */
  vectorizer: Vectorizer;
  /** The space of what `vectorizer` produces (the plan's, projected like it): what rows and the ledger record. */
  space: EmbeddingSpace;
  observe?: RunObserver;
  now?: () => Date;
}

/** What executing one store produced. Failures are in `report` (status 'failed'), never thrown. */
export interface StoreOutcome {
  report: StoreReport;
  vectorizeMs: number;
  loadMs: number;
  /** Dry run: texts of this store kept for the speed estimate (at most config.dryRunSampleSize). */
  sample: string[];
}

interface Done {
  report: StoreReport;
  vectorizeMs: number;
  loadMs: number;
  sample: string[];
}

async function planStore(plan: MigrationPlan, s: PlannedStore): Promise<Done> {
  const stats = newRowStats();
  const sample: string[] = [];
  let rowsPlanned = 0;
  const counted = (): StoreReport => ({ ...s.report, rowsPlanned, rowsSkipped: stats.skipped.length, skippedEntries: stats.skipped, warnings: [...s.report.warnings, ...stats.warnings] });
  try {
    for await (const pending of extractTexts(readStoreRecords(s.store, s.key, { withVectors: false }), stats)) {
      rowsPlanned++;
      if (sample.length < plan.config.dryRunSampleSize) sample.push(pending.text);
    }
  } catch (err) {
    // What was counted before the failure stays in the report.
    return { report: failedReport({ ...s.report, rowsPlanned }, err), vectorizeMs: 0, loadMs: 0, sample };
  }
  return { report: counted(), vectorizeMs: 0, loadMs: 0, sample };
}

/** `serializedSpace`: `deps.space` serialized, what every row carries. */
async function loadStore(plan: MigrationPlan, s: PlannedStore, deps: StoreDependencies, report: StoreReport, serializedSpace: string): Promise<Done> {
  const { config, target } = plan;
  const observe = deps.observe ?? (() => {});
  const stats = newRowStats();
  const rowsTotal = report.entries ?? 0;
  const key = { userId: s.store.userId, collection: s.store.collection };
  const counter = { reused: 0 };
  const stored = { embeddingModel: spaceLabel(deps.space), pcaModelId: pcaModelOf(deps.space), embeddingFingerprint: serializedSpace };
  const options: LoadOptions = {
    runId: plan.runId,
    lock: config.noWait ? 'no-wait' : 'wait',
    onWait: () => observe({ type: 'waiting', ...key, reason: 'another run is writing this store; waiting for it to finish' }),
  };
  const started = performance.now();
  const partial = () => ({
    vectorizeMs: stats.vectorizeMs,
    loadMs: performance.now() - started - stats.vectorizeMs,
    sample: [],
    entries: { rowsSkipped: stats.skipped.length, skippedEntries: stats.skipped, warnings: [...report.warnings, ...stats.warnings] },
  });
  try {
    const writer = await deps.loads.openStore(target, key, options);
    let result: LoadResult;
    try {
      const vectorizer = plan.reuseStored ? reusingStored(deps.vectorizer, (shas) => writer.lookup(shas, stored), counter) : deps.vectorizer;
      const records = readStoreRecords(s.store, s.key, { withVectors: vectorizer.needsStoredVectors });
      // Rows done include entries vectorized but not yet loaded: a window of a re-embedding run is
      // a couple of thousand texts, most of a minute on a CPU.
      const progress = () => observe({ type: 'store-progress', ...key, rowsDone: stats.rows + stats.vectorized + stats.skipped.length, rowsTotal });
      for await (const batch of rowBatches(records, { ...key, serializedSpace, ownerInMetadata: config.ownerInMetadata }, vectorizer, config.batchSize, stats, { onProgress: progress })) {
        await writer.write(batch);
        progress();
      }
      result = await writer.commit();
    } catch (err) {
      await writer.abort();
      throw err;
    }
    const expected = rowsTotal - stats.skipped.length;
    if (result.rowsLoaded !== expected) {
      throw new MigrateError('E_LOAD', `${storeLabel(key)}: loaded ${result.rowsLoaded} rows but expected ${expected}; the source changed during the run? re-run this store`);
    }
    const { entries, ...times } = partial();
    return { ...times, report: { ...report, ...entries, rowsLoaded: result.rowsLoaded, rowsReused: counter.reused } };
  } catch (err) {
    const { entries, ...times } = partial();
    return { ...times, report: failedReport({ ...report, ...entries }, err) };
  }
}

/**
 * Executes one store of a plan: unchanged since its last load (skipped), planned (dry run), or
 * backed up and loaded in its own transaction (or in that of `deps.loads`' session). This is all a worker
 * needs to load one store; it writes nothing to the ledger (the caller records the outcome).
 */
export async function executeStore(plan: MigrationPlan, s: PlannedStore, deps: StoreDependencies): Promise<StoreOutcome> {
  const { config } = plan;
  const started = performance.now();
  const finish = (done: Done): StoreOutcome => ({ ...done, report: { ...done.report, durationMs: done.report.durationMs + Math.round(performance.now() - started) } });
  let report: StoreReport = { ...s.report };
  try {
    const serializedSpace = serializeSpace(deps.space);
    if (!config.force && isUnchanged(plan.latest.get(storeLabel(s.store)), report.sourceSha256, serializedSpace)) {
      const warnings = [...report.warnings, 'source files and model unchanged since its last successful load; not reloaded (use --force to reload)'];
      return finish({ report: { ...report, status: 'unchanged', warnings }, vectorizeMs: 0, loadMs: 0, sample: [] });
    }
    if (config.dryRun) return finish(await planStore(plan, s));
    if (config.backupDir !== null) report = { ...report, backupPath: (await backupStore(s.store, config.backupDir, (deps.now ?? (() => new Date()))())).dir };
    return finish(await loadStore(plan, s, deps, report, serializedSpace));
  } catch (err) {
    return finish({ report: failedReport(report, err), vectorizeMs: 0, loadMs: 0, sample: [] });
  }
}
