import { toMigrateError } from '../errors.js';
import type { Sink } from '../sink/types.js';
import { serializeSpace, type EmbeddingSpace } from '../transform/embeddingSpace.js';
import { TOOL_VERSION } from '../version.js';
import { ledgerOptions, toOutcome } from './ledgerOptions.js';
import type { LoopStop } from './loadStores.js';
import type { MigrationPlan } from './plan.js';
import type { StoreReport } from './report.js';
import { wasInterrupted } from './storeReports.js';

/** How far a live run got in preparing the table and its ledger (what its end must close). */
export interface RunOpening {
  schemaReady: boolean;
  runStarted: boolean;
}

/** Records one store's outcome under the space of the vectors it was loaded with (nothing in a dry run). */
export function recorder(plan: MigrationPlan, sink: Pick<Sink, 'ledger'>, space: EmbeddingSpace): (report: StoreReport) => Promise<void> {
  const serialized = serializeSpace(space);
  return async (report) => {
    if (plan.config.dryRun) return;
    await sink.ledger.recordStore(toOutcome(plan.runId, plan.config.table, report, serialized));
  };
}

/** Creates the table (without its index when deferred), starts the ledger run and records the stores that failed validation. */
export async function openRun(plan: MigrationPlan, sink: Sink, opening: RunOpening): Promise<void> {
  if (plan.config.dryRun) return;
  await sink.schema.ensureSchema(plan.target, { deferSearchIndex: plan.deferIndex });
  opening.schemaReady = true;
  await sink.ledger.startRun({ id: plan.runId, toolVersion: TOOL_VERSION, options: ledgerOptions(plan.config, plan.database.location) }, plan.target);
  opening.runStarted = true;
  await sink.rollback.purgePrevious(plan.target, plan.config.keepPreviousDays);
  // The space before a PCA projection, as it always was: these stores load nothing.
  const record = recorder(plan, sink, plan.space);
  for (const r of plan.failed) await record(r);
}

export interface RunClosing {
  warnings: string[];
  searchIndex?: { built: boolean; ms: number };
  /** True when the signal stopped work: a store not started, or the deferred index build skipped. */
  stopped: boolean;
}

/**
 * Ends a run, whether it completed or threw: builds the deferred HNSW index, analyzes the table
 * and closes the ledger run. Its own failures become warnings, never the run's error.
 */
export async function closeRun(plan: MigrationPlan, sink: Sink, opening: RunOpening, reports: readonly StoreReport[], stop: LoopStop | null, signal?: AbortSignal): Promise<RunClosing> {
  const { target } = plan;
  const closing: RunClosing = { warnings: [], stopped: stop?.kind === 'interrupted' };
  if (opening.schemaReady && plan.deferIndex && signal?.aborted === true) {
    closing.stopped = true;
    closing.warnings.push(`the HNSW index of ${target.table} was not built (the run was interrupted); searches are correct but scan until a later run builds it`);
  } else if (opening.schemaReady && plan.deferIndex && stop?.kind !== 'disk-full') {
    // (Not on a full disk: an index build there would only fail again, and PGlite never returns from that.)
    try {
      // A table this run created has no other users: a plain build (one pass, no waiting for
      // other sessions' transactions). An existing one is indexed CONCURRENTLY (pg), so the
      // application's writes to it go on meanwhile.
      closing.searchIndex = await sink.schema.buildSearchIndex(target, { concurrently: plan.database.tableExists });
    } catch (err) {
      const e = toMigrateError(err, 'E_SCHEMA', `building the HNSW index of ${target.table}`);
      closing.warnings.push(`the HNSW index of ${target.table} could not be built (${e.code}: ${e.message}); searches are correct but scan until a later run builds it`);
    }
  }
  if (opening.schemaReady) {
    // Statistics of the loaded table, after its index: the planner then knows how few rows one
    // user has (which is when it filters an HNSW scan by user: see sink/searchSettings.ts).
    await sink.schema.analyze(target).catch((err: unknown) => {
      const e = toMigrateError(err, 'E_LOAD', `analyzing ${target.table}`);
      closing.warnings.push(`ANALYZE of ${target.table} failed (${e.code}: ${e.message}); run ANALYZE ${target.table} yourself`);
    });
  }
  if (opening.runStarted) {
    // When the run is already failing, closing the ledger must not replace that error with its own;
    // an unclosed run shows as 'running' and its stores' outcomes are recorded regardless.
    const status = closing.stopped || wasInterrupted(reports) ? 'interrupted' : reports.some((r) => r.status === 'failed') ? 'failed' : 'succeeded';
    await sink.ledger.finishRun(plan.runId, status, target).catch(() => undefined);
  }
  return closing;
}
