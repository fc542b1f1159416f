/**
 * `reembed`: moves a populated table to a new embedding model without a moment where search mixes
 * two models. The new vectors go into a side table computed from the table's own texts while
 * applications keep using the table; the side table gets its HNSW index, is checked (counts per
 * store, fingerprints, a search per user), catches up with rows written meanwhile, and is swapped
 * in by renaming both tables in one transaction. Every step can be interrupted and run again.
 */
import { randomUUID } from 'node:crypto';
import type { ReembedConfig } from '../config.js';
import { MigrateError } from '../errors.js';
import type { Embedder } from '../transform/embedder.js';
import { createSearchProjector, fitReduction } from '../transform/pcaFit.js';
import { planReduction, type ReductionPlan } from '../transform/reduction.js';
import { windowSize } from '../transform/rows.js';
import { modelSpace, projectedSpace, serializeSpace, truncatedSpace, type EmbeddingSpace } from '../transform/embeddingSpace.js';
import { deduplicating, projecting, reembedding, truncating, VectorCache, type Vectorizer } from '../transform/vectorize.js';
import { isRelayoutJob, type ReembedJob, type ReembedPendingRow, type Reembedding, type Sink, type SpotCheck, type TargetSpec } from '../sink/types.js';
import { fromPcaModelRecord, toNewPcaModel } from './pcaModelRecord.js';
import { storeLabel } from '../storeLabel.js';
import { withEmbedder, withSink } from './resources.js';

export interface ReembedReport {
  table: string;
  sideTable: string;
  jobId: string;
  model: string;
  fingerprint: string;
  dimensions: number;
  vectorType: 'vector' | 'halfvec';
  reduction: { method: ReductionPlan['method']; sourceDimensions: number; pcaModelId: string | null; fitted: boolean };
  /** True when an interrupted job was continued. */
  resumed: boolean;
  rows: {
    /** Rows of the table in this run's scope (--users, or all). */
    total: number;
    /** Rows already done when the run started (an earlier, interrupted run did them). */
    alreadyDone: number;
    /** Rows embedded by the main pass. */
    embedded: number;
    /** Rows embedded by the catch-up passes (written by applications while the job ran). */
    caughtUp: number;
    /** Side rows removed because applications deleted their row while the job ran. */
    pruned: number;
  };
  index: { built: boolean; ms: number } | null;
  verification: { stores: number; spotChecks: number } | null;
  swap: { previousTable: string; caughtUp: number; pruned: number; synced: number } | null;
  /** Why the side table was not swapped in (--no-swap, --users covering part of the table). */
  swapDeferred: string | null;
  durationMs: number;
  rowsPerSecond: number;
}

export type ReembedEvent =
  | { type: 'reembed-start'; table: string; sideTable: string; jobId: string; model: string; dimensions: number; resumed: boolean; total: number; done: number }
  | { type: 'reembed-phase'; phase: 'sampling' | 'embedding' | 'catch-up' | 'index' | 'verify' | 'swap'; detail: string }
  /** done: rows written (durable); unwritten: rows of the current page embedded, not yet written. */
  | { type: 'reembed-progress'; phase: 'embedding' | 'catch-up'; done: number; unwritten: number; total: number; rowsPerSecond: number; etaSeconds: number | null }
  | { type: 'reembed-done'; report: ReembedReport };

export type ReembedObserver = (event: ReembedEvent) => void;

/** Catch-up passes before the swap; what arrives after the last one is embedded under the swap's lock. */
const CATCH_UP_PASSES = 3;

export async function reembed(config: ReembedConfig, observe: ReembedObserver): Promise<ReembedReport> {
  return withSink(config.database, { readOnly: false, purpose: 'reembed' }, (sink) => withEmbedder(config.model, (embedder) => runReembed(config, { sink, embedder, observe })));
}

export interface ReembedDeps {
  sink: Sink;
  embedder: Embedder;
  observe: ReembedObserver;
}

/** A re-embedding job started (or resumed) with its side table and vectorizer ready to write. */
export interface PreparedReembed {
  r: Reembedding;
  job: ReembedJob;
  side: TargetSpec;
  plan: ReductionPlan;
  vectorizer: Vectorizer;
  /** The space of what `vectorizer` produces; its serialization keys the job. */
  space: EmbeddingSpace;
  fitted: boolean;
  resumed: boolean;
}

/**
 * What must happen once before any row is embedded: the side table, the reduction (a PCA fit on
 * the table's texts, or the job's model when resuming) and the job record. Running it again
 * resumes the job, so every queue worker can call it before its page.
 */
export async function prepareReembed(config: ReembedConfig, deps: ReembedDeps): Promise<PreparedReembed> {
  const { sink, embedder, observe } = deps;
  const table = await sink.schema.describeTable({ table: config.table });
  if (table === null) throw new MigrateError('E_USAGE', `table ${config.table} does not exist in ${sink.location}; there is nothing to re-embed`);
  const info = await sink.schema.inspect(table);
  const r = sink.reembedding({ table: config.table });
  let job = await r.current();
  if (job !== null && isRelayoutJob(job)) {
    throw new MigrateError('E_REEMBED', `${config.table} is being re-laid out (job ${job.id}); finish it with relayout (same flags) or remove it with relayout --abort before re-embedding`);
  }
  if (job === null && config.requireJob !== undefined) {
    throw new MigrateError('E_REEMBED', `${config.table} has no running re-embedding (job ${config.requireJob} is swapped or aborted); nothing to do`);
  }
  if (job !== null && config.requireJob !== undefined && job.id !== config.requireJob) {
    throw new MigrateError('E_REEMBED', `${config.table} is being re-embedded by job ${job.id}, not by the enqueued job ${config.requireJob}; nothing to do`);
  }
  const resumed = job !== null;

  const plan = job === null ? planReduction({ sourceDimensions: embedder.dimensions, mode: config.reduction.mode, dimensions: config.reduction.dimensions, pgvectorVersion: info.pgvectorVersion, activePca: null, refit: false }) : planOf(job, embedder);
  const side: TargetSpec = {
    table: r.sideTable,
    dimensions: plan.dimensions,
    vectorType: plan.vectorType,
    distance: plan.method === 'pca' ? 'l2' : 'cosine',
    // The side table becomes the table: same layout, same row-level security.
    ...(table.partitions === undefined ? {} : { partitions: table.partitions }),
    ...(table.rls === true ? { rls: true } : {}),
  };
  // Without its HNSW index while it fills: one build at the end is several times faster.
  await sink.schema.ensureSchema(side, { deferSearchIndex: true });

  const { vectorizer, space, fitted } = await vectorizerFor(plan, job, r, sink, embedder, side, config, observe);
  const serializedSpace = serializeSpace(space);
  if (job !== null && job.serializedSpace !== serializedSpace) {
    throw new MigrateError(
      'E_REEMBED',
      `${config.table} has an unfinished re-embedding to ${job.model} (job ${job.id}) with other settings than this run's; run it again with the same --model and reduction, or remove it with reembed --abort`,
    );
  }
  job ??= await r.start({
    id: randomUUID(),
    model: config.model.id,
    serializedSpace,
    dimensions: plan.dimensions,
    vectorType: plan.vectorType,
    distance: side.distance ?? 'cosine',
    pcaModelId: vectorizer.pcaModelId,
    options: { model: config.model.id, reduce: config.reduction.mode, dimensions: config.reduction.dimensions, batchSize: config.batchSize },
  });
  return { r, job, side, plan, vectorizer, space, fitted, resumed };
}

export async function runReembed(config: ReembedConfig, deps: ReembedDeps): Promise<ReembedReport> {
  const { sink, observe } = deps;
  const started = performance.now();
  const { r, job, side, plan, vectorizer, fitted, resumed } = await prepareReembed(config, deps);
  const scope = await r.counts(job, config.users);
  observe({ type: 'reembed-start', table: config.table, sideTable: r.sideTable, jobId: job.id, model: job.model, dimensions: job.dimensions, resumed, total: scope.total, done: scope.done });

  const progress = progressMeter(scope.total, scope.done, observe);
  observe({ type: 'reembed-phase', phase: 'embedding', detail: `${scope.total - scope.done} of ${scope.total} rows to embed` });
  const embedded = await embedPending(r, job, vectorizer, config, progress('embedding'));

  let caughtUp = 0;
  for (let pass = 0; pass < CATCH_UP_PASSES; pass++) {
    const late = await embedPending(r, job, vectorizer, config, progress('catch-up'));
    caughtUp += late;
    if (late === 0) break;
  }

  const report: ReembedReport = {
    table: config.table,
    sideTable: r.sideTable,
    jobId: job.id,
    model: job.model,
    // The job's space: this run's (prepareReembed refuses another), as the job table stores it.
    fingerprint: job.serializedSpace,
    dimensions: job.dimensions,
    vectorType: job.vectorType,
    reduction: { method: plan.method, sourceDimensions: plan.sourceDimensions, pcaModelId: job.pcaModelId, fitted },
    resumed,
    rows: { total: scope.total, alreadyDone: scope.done, embedded, caughtUp, pruned: 0 },
    index: null,
    verification: null,
    swap: null,
    swapDeferred: null,
    durationMs: 0,
    rowsPerSecond: 0,
  };
  const finish = (): ReembedReport => {
    report.durationMs = performance.now() - started;
    report.rowsPerSecond = (embedded + caughtUp) / Math.max(report.durationMs / 1000, 1e-3);
    observe({ type: 'reembed-done', report });
    return report;
  };

  const whole = config.users === null ? null : await r.counts(job, null);
  const remaining = whole === null ? 0 : whole.total - whole.done;
  if (remaining > 0) {
    report.swapDeferred = `${remaining} rows of users outside --users are not re-embedded yet; run reembed for them (or without --users) to finish and swap`;
    return finish();
  }

  report.rows.pruned = await r.prune(job);
  observe({ type: 'reembed-phase', phase: 'index', detail: `building the HNSW index of ${r.sideTable}` });
  report.index = await sink.schema.buildSearchIndex(side, { concurrently: sink.driver === 'pg' });
  observe({ type: 'reembed-phase', phase: 'verify', detail: 'counts per store, fingerprints, one search per user' });
  report.verification = await verifySide(r, job);

  if (!config.swap) {
    report.swapDeferred = `--no-swap: ${r.sideTable} is complete and verified; run reembed again with the same --model to swap it in`;
    return finish();
  }
  observe({ type: 'reembed-phase', phase: 'swap', detail: `renaming ${r.sideTable} to ${config.table}` });
  const current = job;
  report.swap = await r.swap(current, (rows) => vectorizer.vectors(rows.map(entryOf)), config.noWait ? { lock: 'no-wait' } : {});
  return finish();
}

/** Removes the table's unfinished side table. E_REEMBED when there is none. */
export async function abortReembed(config: ReembedConfig): Promise<{ table: string; sideTable: string; jobId: string }> {
  return withSink(config.database, { readOnly: false, purpose: 'reembed --abort' }, async (sink) => {
    const r = sink.reembedding({ table: config.table });
    const job = await r.current();
    if (job === null) throw new MigrateError('E_REEMBED', `${config.table} has no unfinished re-embedding to abort`);
    await r.abort(job);
    return { table: config.table, sideTable: r.sideTable, jobId: job.id };
  });
}

/** Undoes the table's latest swap. */
export async function swapBackReembed(config: ReembedConfig): Promise<{ table: string; restored: string; sideTable: string; jobId: string }> {
  return withSink(config.database, { readOnly: false, purpose: 'reembed --swap-back' }, async (sink) => {
    const result = await sink.reembedding({ table: config.table }).swapBack(config.noWait ? { lock: 'no-wait' } : {});
    return { table: config.table, restored: result.restored, sideTable: result.sideTable, jobId: result.job.id };
  });
}

/** A resumed job keeps the dimension, type and PCA model (or truncation) it started with. */
function planOf(job: ReembedJob, embedder: Embedder): ReductionPlan {
  if (job.pcaModelId !== null) return { method: 'pca', vectorType: 'vector', sourceDimensions: embedder.dimensions, dimensions: job.dimensions, model: 'reuse' };
  if (job.options['reduce'] === 'truncate') return { method: 'truncate', vectorType: 'vector', sourceDimensions: embedder.dimensions, dimensions: job.dimensions };
  if (job.dimensions !== embedder.dimensions) {
    throw new MigrateError(
      'E_REEMBED',
      `${job.table} has an unfinished re-embedding to ${job.model} (${job.dimensions} dimensions) but this model gives ${embedder.dimensions}; run it with the same --model, or reembed --abort first`,
    );
  }
  return job.vectorType === 'halfvec'
    ? { method: 'halfvec', vectorType: 'halfvec', sourceDimensions: embedder.dimensions, dimensions: job.dimensions }
    : { method: 'none', vectorType: 'vector', sourceDimensions: embedder.dimensions, dimensions: job.dimensions };
}

/**
 * The new model, projected when the plan reduces with PCA: the job's model when resuming, the side
 * table's when an earlier run fitted one and stopped before recording the job, else a fit on a
 * sample of the table's own texts.
 */
async function vectorizerFor(
  plan: ReductionPlan,
  job: ReembedJob | null,
  r: Reembedding,
  sink: Sink,
  embedder: Embedder,
  side: TargetSpec,
  config: ReembedConfig,
  observe: ReembedObserver,
): Promise<{ vectorizer: Vectorizer; space: EmbeddingSpace; fitted: boolean }> {
  // Identical texts (within and across users) are embedded once per run, as in migrate.
  const base = deduplicating(reembedding(embedder, { batchSize: config.batchSize }), VectorCache.forBudget(embedder.dimensions));
  const space = modelSpace(embedder.identity, plan.vectorType);
  if (plan.method === 'truncate') return { vectorizer: truncating(base, plan.dimensions), space: truncatedSpace(space, plan.dimensions), fitted: false };
  if (plan.method !== 'pca') return { vectorizer: base, space, fitted: false };
  const existing = job?.pcaModelId != null ? await sink.pcaModels.byId(side, job.pcaModelId) : await sink.pcaModels.active(side);
  if (existing !== null && existing.sourceDimensions === embedder.dimensions && existing.targetDimensions === plan.dimensions) {
    return { vectorizer: projecting(base, createSearchProjector(fromPcaModelRecord(existing)), existing), space: projectedSpace(space, existing), fitted: false };
  }
  if (job !== null) throw new MigrateError('E_REEMBED', `the PCA model ${job.pcaModelId ?? '?'} of job ${job.id} is gone from ${side.table}; reembed --abort and start again`);
  const { pcaSample, pcaSeed } = config.reduction;
  observe({ type: 'reembed-phase', phase: 'sampling', detail: `embedding up to ${pcaSample} of the table's texts to fit PCA` });
  const texts = await r.sampleTexts(pcaSample, pcaSeed);
  const vectors: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += config.batchSize) vectors.push(...(await embedder.embed(texts.slice(i, i + config.batchSize))));
  const fittedModel = await fitReduction(vectors, plan.dimensions);
  const saved = await sink.pcaModels.save(toNewPcaModel(side.table, fittedModel, { sampling: 'table texts, md5(id || seed) order', seed: pcaSeed, population: texts.length }));
  return { vectorizer: projecting(base, createSearchProjector(fittedModel.model), saved), space: projectedSpace(space, saved), fitted: true };
}

function entryOf(row: ReembedPendingRow, index: number): { index: number; text: string } {
  return { index, text: row.text };
}

/**
 * One pass over the rows still pending (of config.users), in id order; returns rows written. A
 * page is one sort window (rows.ts windowSize), so the model sees texts grouped by
 * length; it is written back in batches of config.batchSize, each committed on its own. A run
 * stopped mid-page loses at most that page's embeddings, never a written row.
 */
export async function embedPending(r: Reembedding, job: ReembedJob, vectorizer: Vectorizer, config: ReembedConfig, progress: PassProgress, range: IdRange = WHOLE_TABLE): Promise<number> {
  const pageSize = windowSize(vectorizer, config.batchSize);
  let afterId: string | null = range.afterId;
  let written = 0;
  for (;;) {
    const page = await r.pending(job, { users: config.users, afterId, limit: pageSize });
    // Ids compare as the database orders uuids: lower-case hex, byte by byte.
    const rows = range.untilId === null ? page : page.filter((row) => row.id <= (range.untilId as string));
    if (rows.length === 0) return written;
    const embeddings = await vectorizer.vectors(rows.map(entryOf), progress.embedded);
    for (let i = 0; i < rows.length; i += config.batchSize) {
      const batch = rows.slice(i, i + config.batchSize);
      const n = await r.write(
        job,
        batch.map((row, k) => ({ id: row.id, text: row.text, embedding: embeddings[i + k] as Float32Array })),
      );
      written += n;
      progress.written(n, batch.length);
    }
    if (rows.length < page.length) return written;
    afterId = (rows[rows.length - 1] as ReembedPendingRow).id;
  }
}

/** Rows with afterId < id <= untilId (null: unbounded), the share of the table one queued page embeds. */
export interface IdRange {
  afterId: string | null;
  untilId: string | null;
}

const WHOLE_TABLE: IdRange = { afterId: null, untilId: null };

/** What one pass tells the progress meter: rows embedded (not yet durable), then rows written. */
export interface PassProgress {
  embedded(rows: number): void;
  /** `written` of `offered` rows were written (the rest changed under us and stay pending). */
  written(written: number, offered: number): void;
}

/**
 * Rows done (written, durable) out of the scope's total, the rows of the current page embedded
 * but not written yet, the rate of this run (rows embedded per second) and the time left at it.
 */
function progressMeter(total: number, alreadyDone: number, observe: ReembedObserver): (phase: 'embedding' | 'catch-up') => PassProgress {
  const started = performance.now();
  let doneNow = 0;
  let unwritten = 0;
  const emit = (phase: 'embedding' | 'catch-up') => {
    const seconds = Math.max((performance.now() - started) / 1000, 1e-3);
    const rate = (doneNow + unwritten) / seconds;
    const done = Math.min(total, alreadyDone + doneNow);
    const left = Math.max(0, total - done - unwritten);
    observe({ type: 'reembed-progress', phase, done, unwritten, total, rowsPerSecond: rate, etaSeconds: rate > 0 ? left / rate : null });
  };
  return (phase) => ({
    embedded(rows) {
      unwritten += rows;
      emit(phase);
    },
    written(written, offered) {
      doneNow += written;
      unwritten = Math.max(0, unwritten - offered);
      emit(phase);
    },
  });
}

/**
 * Before the swap: every store has as many rows in the side table as in the table, all with the
 * job's fingerprint and the table's text, and for each user an exact search of the side table
 * with one of the user's own new vectors finds that row (or a duplicate of it) at distance 0
 * among the user's rows. Exact, not through the HNSW index: the approximate index can miss a row
 * among near-duplicates, and would miss it again on every re-run. E_REEMBED otherwise; nothing is swapped.
 */
async function verifySide(r: Reembedding, job: ReembedJob): Promise<{ stores: number; spotChecks: number }> {
  const stores = await r.compare(job);
  const bad = stores.filter((s) => s.tableRows !== s.sideRows || s.staleRows > 0);
  if (bad.length > 0) {
    const first = bad[0] as (typeof bad)[number];
    throw new MigrateError(
      'E_REEMBED',
      `${bad.length} store(s) of ${job.table} do not match ${r.sideTable} (e.g. ${storeLabel(first)}: ${first.tableRows} rows vs ${first.sideRows}, ${first.staleRows} stale); run reembed again to finish`,
    );
  }
  const spots = await r.spotCheck(job);
  assertSpotChecks(spots, r.sideTable);
  return { stores: stores.length, spotChecks: spots.length };
}

/**
 * Every spot check found its own row (or a duplicate of its vector) at distance 0: E_REEMBED
 * naming the first that did not. The pre-swap check of `reembed` and `relayout` alike.
 */
export function assertSpotChecks(spots: readonly SpotCheck[], sideTable: string): void {
  for (const spot of spots) {
    // Distance 0 (float rounding aside): the row itself, or a duplicate of its vector. NaN fails.
    if (spot.foundId === null || spot.distance === null || !(spot.distance <= 1e-6)) {
      throw new MigrateError(
        'E_REEMBED',
        `spot check failed for user ${spot.userId}: an exact search of ${sideTable} with row ${spot.id}'s own vector (collection ${spot.collection}) returned ${spot.foundId === null ? 'nothing' : `row ${spot.foundId} at distance ${spot.distance}`}, not that row at distance 0; the side table's vector of row ${spot.id} is wrong; nothing was swapped`,
      );
    }
  }
}
