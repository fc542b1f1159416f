/**
 * `relayout`: moves a populated table to another layout (hash partitions on user_id or none, the
 * vector type, a truncated dimension) without re-embedding and without a moment where readers
 * miss rows. It is the re-embedding's machinery with another copy step: the side table
 * `<table>_reembed` is filled by SQL from the table's own rows (in pages, one transaction each)
 * while applications keep using the table, gets its HNSW index, is spot-checked, catches up with
 * rows written meanwhile, and is swapped in (the last rows copied and every store compared under
 * the swap's lock). The old table is kept as `<table>_prev_<timestamp>`; --swap-back restores it.
 */
import { randomUUID } from 'node:crypto';
import { DEFAULTS, type RelayoutConfig, type RelayoutRequest } from '../config.js';
import { MigrateError } from '../errors.js';
import { freeBytes } from '../sink/diskSpace.js';
import { isRelayoutJob, RELAYOUT_KIND, type Relayout, type RelayoutTransform, type ReembedJob, type Sink, type TargetSpec, type VectorType } from '../sink/types.js';
import { relaidFingerprint } from '../transform/embeddingSpace.js';
import { fitReduction } from '../transform/pcaFit.js';
import { toNewPcaModel } from './pcaModelRecord.js';
import { assertSpotChecks } from './reembed.js';
import { withSink } from './resources.js';

/** How a table stores its rows, as far as relayout changes it. */
export interface RelayoutLayout {
  /** Hash partitions on user_id, or null for a plain table. */
  partitions: number | null;
  vectorType: VectorType;
  dimensions: number;
}

export interface RelayoutReport {
  table: string;
  sideTable: string;
  jobId: string;
  from: RelayoutLayout;
  to: RelayoutLayout;
  /** How the vectors were shortened (none: same dimension), and the PCA model fitted for it. */
  reduction: { method: Reduction; pcaModelId: string | null; fitted: boolean; sampleSize: number | null };
  /** True when an interrupted job was continued. */
  resumed: boolean;
  rows: {
    total: number;
    /** Rows already copied when the run started (an earlier, interrupted run did them). */
    alreadyDone: number;
    /** Rows copied by the main pass. */
    copied: number;
    /** Rows copied by the catch-up passes (written or changed by applications meanwhile). */
    caughtUp: number;
    /** Side rows removed because applications deleted their row meanwhile. */
    pruned: number;
  };
  index: { built: boolean; ms: number } | null;
  /** Before the swap: users spot-checked; stores that still differed (the swap catches them up under its lock). */
  verification: { spotChecks: number; storesBehind: number } | null;
  swap: { previousTable: string; caughtUp: number; pruned: number } | null;
  swapDeferred: string | null;
  durationMs: number;
  rowsPerSecond: number;
}

/** `relayout --dry-run`: what would happen, what it needs, and how long it should take. */
export interface RelayoutPlan {
  table: string;
  driver: 'pg' | 'pglite';
  from: RelayoutLayout;
  to: RelayoutLayout;
  reduction: Reduction;
  rows: number;
  stores: number;
  space: {
    /** pg_total_relation_size of the table with its partitions and indexes. */
    tableBytes: number;
    /** The side table's expected size: tableBytes scaled by the row's size change (vector type and dimension). */
    neededBytes: number;
    /** Free bytes where the data lives (the PGlite directory's disk), or null when the tool cannot see it (a server). */
    freeBytes: number | null;
    enough: boolean | null;
  };
  estimate: {
    sampleRows: number;
    copyMs: number;
    indexMs: number;
    /** Extrapolated linearly from the sample (the HNSW build grows a little faster than linearly). */
    copySeconds: number;
    indexSeconds: number;
    method: string;
  } | null;
}

export type RelayoutEvent =
  | { type: 'relayout-start'; table: string; sideTable: string; jobId: string; resumed: boolean; from: RelayoutLayout; to: RelayoutLayout; total: number; done: number }
  | { type: 'relayout-phase'; phase: 'copy' | 'catch-up' | 'index' | 'verify' | 'swap'; detail: string }
  | { type: 'relayout-progress'; phase: 'copy' | 'catch-up'; done: number; total: number; rowsPerSecond: number; etaSeconds: number | null }
  | { type: 'relayout-done'; report: RelayoutReport };

export type RelayoutObserver = (event: RelayoutEvent) => void;

export type Reduction = 'none' | 'truncate' | 'pca';

/** Catch-up passes before the swap; what arrives after the last one is copied under the swap's lock. */
const CATCH_UP_PASSES = 3;
/** Rows the dry run copies into its probe. */
const PROBE_ROWS = 2000;

export async function relayout(config: RelayoutConfig, observe: RelayoutObserver): Promise<RelayoutReport> {
  return withSink(config.database, { readOnly: false, purpose: 'relayout' }, (sink) => runRelayout(config, sink, observe));
}

interface Prepared {
  from: RelayoutLayout;
  to: RelayoutLayout;
  reduction: Reduction;
  distance: 'cosine' | 'l2';
  rls: boolean;
}

/** The table's layout and the one asked for (or recorded by its running job); E_USAGE for what relayout cannot do. */
async function prepare(sink: Sink, config: RelayoutConfig, job: ReembedJob | null): Promise<Prepared> {
  const table = await sink.schema.describeTable({ table: config.table });
  if (table === null) throw new MigrateError('E_USAGE', `table ${config.table} does not exist in ${sink.location} (or has no embedding column); there is nothing to re-lay out`);
  const from: RelayoutLayout = { partitions: table.partitions ?? null, vectorType: table.vectorType, dimensions: table.dimensions };
  const recorded = job === null ? null : layoutOf(job.options['to']);
  const asked = hasChange(config.request) ? targetOf(from, config.request) : null;
  if (job !== null && recorded === null) throw new MigrateError('E_INTERNAL', `job ${job.id} of ${config.table} records no target layout`);
  if (asked !== null && recorded !== null && JSON.stringify(asked) !== JSON.stringify(recorded)) {
    throw new MigrateError(
      'E_REEMBED',
      `${config.table} has an unfinished re-layout (job ${job?.id ?? '?'}) to ${describeLayout(recorded)}, not ${describeLayout(asked)}; run relayout again with its flags (or --swap), or remove it with relayout --abort`,
    );
  }
  const recordedReduction = job === null ? null : reductionOf(job.options['reduction']);
  const askedReduction: Reduction = asked === null ? 'none' : config.request.reduce ?? 'none';
  if (asked !== null && recordedReduction !== null && recordedReduction !== askedReduction) {
    throw new MigrateError('E_REEMBED', `${config.table} has an unfinished re-layout (job ${job?.id ?? '?'}) reducing by ${recordedReduction}, not ${askedReduction}; run relayout again with its flags (or --swap), or remove it with relayout --abort`);
  }
  const to = recorded ?? asked;
  if (to === null) throw new MigrateError('E_USAGE', `${config.table} has no unfinished re-layout to finish; give the layout change (--partitions, --no-partitions, --vector-type, --dimensions)`);
  if (job === null) {
    if (to.dimensions > from.dimensions) throw new MigrateError('E_USAGE', `--dimensions ${to.dimensions} is more than the ${from.dimensions} the vectors of ${config.table} have; truncation can only shorten them`);
    if (JSON.stringify(to) === JSON.stringify(from)) throw new MigrateError('E_USAGE', `${config.table} is already ${describeLayout(from)}; nothing to change`);
    if (table.pcaModelId !== null || (await sink.relayout({ table: config.table }).stats()).pcaRows > 0) {
      throw new MigrateError('E_USAGE', `${config.table} holds PCA-projected vectors; relayout does not move PCA models yet: re-embed it instead (reembed --model <model> with the reduction you want)`);
    }
  }
  const reduction = recordedReduction ?? (to.dimensions === from.dimensions ? 'none' : askedReduction === 'none' ? 'truncate' : askedReduction);
  // PCA projections keep L2 distances, not angles: the table searches by L2 from then on (as migrate's PCA tables).
  return { from, to, reduction, distance: reduction === 'pca' ? 'l2' : table.distance, rls: table.rls === true };
}

export async function runRelayout(config: RelayoutConfig, sink: Sink, observe: RelayoutObserver): Promise<RelayoutReport> {
  const started = performance.now();
  const rl = sink.relayout({ table: config.table });
  let job = await rl.current();
  if (job !== null && !isRelayoutJob(job)) {
    throw new MigrateError('E_REEMBED', `${config.table} has an unfinished re-embedding to ${job.model} (job ${job.id}); finish it with reembed, or remove it with reembed --abort, before re-laying out the table`);
  }
  const resumed = job !== null;
  const { from, to, reduction, distance, rls } = await prepare(sink, config, job);
  const side: TargetSpec = {
    table: rl.sideTable,
    dimensions: to.dimensions,
    vectorType: to.vectorType,
    distance,
    ...(to.partitions === null ? {} : { partitions: to.partitions }),
    ...(rls ? { rls: true } : {}),
  };
  // Without its HNSW index while it fills: one build at the end is several times faster.
  await sink.schema.ensureSchema(side, { deferSearchIndex: true });
  const pca = reduction === 'pca' ? await pcaModelFor(sink, rl, side, from.dimensions, job, config) : null;
  job ??= await rl.start({
    id: randomUUID(),
    model: RELAYOUT_KIND,
    serializedSpace: JSON.stringify({ ...to, reduction }),
    dimensions: to.dimensions,
    vectorType: to.vectorType,
    distance,
    pcaModelId: pca?.id ?? null,
    options: { kind: RELAYOUT_KIND, from, to, reduction },
  });
  const vector: RelayoutTransform['vector'] = pca !== null ? { kind: 'pca', modelId: pca.id } : reduction === 'truncate' ? { kind: 'truncate' } : { kind: 'cast' };

  const transformFor = (fingerprints: string[]): RelayoutTransform => transformOf(to, vector, fingerprints);
  const scope = await rl.counts(transformFor(await rl.fingerprints()));
  observe({ type: 'relayout-start', table: config.table, sideTable: rl.sideTable, jobId: job.id, resumed, from, to, total: scope.total, done: scope.done });
  const meter = progressMeter(scope.total, scope.done, observe);
  observe({ type: 'relayout-phase', phase: 'copy', detail: `${scope.total - scope.done} of ${scope.total} rows to copy, ${config.pageRows} per transaction` });
  const copied = await copyPass(rl, transformFor(await rl.fingerprints()), config.pageRows, meter('copy'));
  let caughtUp = 0;
  for (let pass = 0; pass < CATCH_UP_PASSES; pass++) {
    const late = await copyPass(rl, transformFor(await rl.fingerprints()), config.pageRows, meter('catch-up'));
    caughtUp += late;
    if (late === 0) break;
  }

  const report: RelayoutReport = {
    table: config.table,
    sideTable: rl.sideTable,
    jobId: job.id,
    from,
    to,
    reduction: { method: reduction, pcaModelId: pca?.id ?? null, fitted: pca?.fitted ?? false, sampleSize: pca?.sampleSize ?? null },
    resumed,
    rows: { total: scope.total, alreadyDone: scope.done, copied, caughtUp, pruned: await rl.prune() },
    index: null,
    verification: null,
    swap: null,
    swapDeferred: null,
    durationMs: 0,
    rowsPerSecond: 0,
  };
  observe({ type: 'relayout-phase', phase: 'index', detail: `building the HNSW index of ${rl.sideTable}${to.partitions === null ? '' : ` (one per partition, ${to.partitions})`}` });
  report.index = await sink.schema.buildSearchIndex(side, { concurrently: sink.driver === 'pg' });
  observe({ type: 'relayout-phase', phase: 'verify', detail: 'one exact search per user; stores compared' });
  const spots = await rl.spotCheck(job);
  assertSpotChecks(spots, rl.sideTable);
  // Applications may still be writing: stores behind now are caught up under the swap's lock,
  // where the comparison must be exact.
  const behind = (await rl.compare(transformFor(await rl.fingerprints()))).filter((s) => s.tableRows !== s.sideRows || s.staleRows > 0).length;
  report.verification = { spotChecks: spots.length, storesBehind: behind };

  if (!config.swap) {
    report.swapDeferred = `--no-swap: ${rl.sideTable} is complete and checked; run relayout --swap (or the same command again) to swap it in`;
  } else {
    observe({ type: 'relayout-phase', phase: 'swap', detail: `renaming ${rl.sideTable} to ${config.table}` });
    report.swap = await rl.swap(job, transformFor, config.noWait ? { lock: 'no-wait' } : {});
  }
  report.durationMs = performance.now() - started;
  report.rowsPerSecond = (copied + caughtUp) / Math.max(report.durationMs / 1000, 1e-3);
  observe({ type: 'relayout-done', report });
  return report;
}

/** Plans without writing: the layouts, rows, stores, the space needed and a measured duration estimate. */
export async function planRelayout(config: RelayoutConfig): Promise<RelayoutPlan> {
  // Writable only for the probe's temporary table, in a transaction that is rolled back.
  return withSink(config.database, { readOnly: false, purpose: 'relayout --dry-run' }, async (sink) => {
    const rl = sink.relayout({ table: config.table });
    const job = await rl.current();
    if (job !== null && !isRelayoutJob(job)) {
      throw new MigrateError('E_REEMBED', `${config.table} has an unfinished re-embedding to ${job.model} (job ${job.id}); finish it with reembed, or remove it with reembed --abort, before re-laying out the table`);
    }
    const { from, to, reduction, distance } = await prepare(sink, config, job);
    const stats = await rl.stats();
    const newRowBytes = stats.rowBytes - stats.embeddingBytes + vectorBytes(to);
    const neededBytes = Math.round(stats.totalBytes * (stats.rowBytes > 0 ? newRowBytes / stats.rowBytes : 1));
    const free = sink.driver === 'pglite' ? freeBytes(config.database.pgliteDir) : null;
    let estimate: RelayoutPlan['estimate'] = null;
    if (stats.rows > 0) {
      // No PCA model exists before the run fits one: its copy is timed as a truncation (the
      // projection in SQL costs more per row; the estimate says so).
      const probe = await rl.probe(transformOf(to, reduction === 'none' ? { kind: 'cast' } : { kind: 'truncate' }, await rl.fingerprints()), PROBE_ROWS, distance);
      const per = stats.rows / Math.max(probe.rows, 1);
      estimate = {
        sampleRows: probe.rows,
        copyMs: probe.copyMs,
        indexMs: probe.indexMs,
        copySeconds: (probe.copyMs * per) / 1000,
        indexSeconds: (probe.indexMs * per) / 1000,
        method: `the first ${probe.rows} rows by id copied into a temporary table in the new layout and HNSW-indexed, in a transaction rolled back; scaled linearly to ${stats.rows} rows (the real copy also checks each row against the side table, and catch-up passes come on top${reduction === 'pca' ? '; PCA timed as a truncation: the fit and the projection in SQL (pgvm_project) come on top' : ''})`,
      };
    }
    return {
      table: config.table,
      driver: sink.driver,
      from,
      to,
      reduction,
      rows: stats.rows,
      stores: stats.stores,
      space: { tableBytes: stats.totalBytes, neededBytes, freeBytes: free, enough: free === null ? null : free >= neededBytes },
      estimate,
    };
  });
}

/** Removes the table's unfinished re-layout (side table and job); the table is untouched. */
export async function abortRelayout(config: RelayoutConfig): Promise<{ table: string; sideTable: string; jobId: string }> {
  return withSink(config.database, { readOnly: false, purpose: 'relayout --abort' }, async (sink) => {
    const rl = sink.relayout({ table: config.table });
    const job = await rl.current();
    if (job === null) throw new MigrateError('E_REEMBED', `${config.table} has no unfinished re-layout to abort`);
    if (!isRelayoutJob(job)) throw new MigrateError('E_REEMBED', `the unfinished job of ${config.table} (${job.id}) is a re-embedding to ${job.model}, not a re-layout; remove it with reembed --abort`);
    await rl.abort(job);
    return { table: config.table, sideTable: rl.sideTable, jobId: job.id };
  });
}

/** Undoes the table's latest swap when it was a re-layout. */
export async function swapBackRelayout(config: RelayoutConfig): Promise<{ table: string; restored: string; sideTable: string; jobId: string }> {
  return withSink(config.database, { readOnly: false, purpose: 'relayout --swap-back' }, async (sink) => {
    const r = sink.reembedding({ table: config.table });
    const last = await r.lastSwapped();
    if (last !== null && !isRelayoutJob(last)) throw new MigrateError('E_REEMBED', `the latest swap of ${config.table} was a re-embedding to ${last.model} (job ${last.id}); undo it with reembed --swap-back`);
    const result = await r.swapBack(config.noWait ? { lock: 'no-wait' } : {});
    return { table: config.table, restored: result.restored, sideTable: result.sideTable, jobId: result.job.id };
  });
}

export function describeLayout(l: RelayoutLayout): string {
  return `${l.vectorType}(${l.dimensions}), ${l.partitions === null ? 'not partitioned' : `${l.partitions} hash partitions on user_id`}`;
}

function hasChange(r: RelayoutRequest): boolean {
  return r.partitions !== null || r.vectorType !== null || r.dimensions !== null;
}

function targetOf(from: RelayoutLayout, r: RelayoutRequest): RelayoutLayout {
  return {
    partitions: r.partitions === null ? from.partitions : r.partitions === 'none' ? null : r.partitions,
    vectorType: r.vectorType ?? from.vectorType,
    dimensions: r.dimensions ?? from.dimensions,
  };
}

function layoutOf(value: unknown): RelayoutLayout | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const partitions = v['partitions'];
  if ((v['vectorType'] !== 'vector' && v['vectorType'] !== 'halfvec') || typeof v['dimensions'] !== 'number' || (partitions !== null && typeof partitions !== 'number')) return null;
  return { partitions, vectorType: v['vectorType'], dimensions: v['dimensions'] };
}

/** The side table's rows as SQL computes them from the table's, for the fingerprints the table holds now. */
function transformOf(to: RelayoutLayout, vector: RelayoutTransform['vector'], fingerprints: readonly string[]): RelayoutTransform {
  const layout = { vectorType: to.vectorType, dimensions: to.dimensions, ...(vector.kind === 'pca' ? { pcaModelId: vector.modelId } : {}) };
  const pairs = fingerprints.flatMap((stored) => {
    const renamed = relaidFingerprint(stored, layout);
    return renamed === null || renamed === stored ? [] : [[stored, renamed] as const];
  });
  // A vector truncated or projected is no longer in an unreadable fingerprint's space: NULL, not a wrong claim.
  return { vectorType: to.vectorType, dimensions: to.dimensions, vector, fingerprints: pairs, keepOtherFingerprints: vector.kind === 'cast' };
}

/**
 * The side table's PCA model: the job's when resuming, the side table's active one when an
 * earlier run fitted it and stopped before recording the job, else one fitted now on a sample of
 * the table's stored vectors (scaled to unit length, as every PCA fit of the tool).
 */
async function pcaModelFor(sink: Sink, rl: Relayout, side: TargetSpec, sourceDimensions: number, job: ReembedJob | null, config: RelayoutConfig): Promise<{ id: string; fitted: boolean; sampleSize: number | null }> {
  if (job !== null) {
    if (job.pcaModelId === null) throw new MigrateError('E_INTERNAL', `re-layout job ${job.id} reduces with PCA but records no model`);
    return { id: job.pcaModelId, fitted: false, sampleSize: null };
  }
  const existing = await sink.pcaModels.active(side);
  if (existing !== null && existing.targetDimensions === side.dimensions && existing.sourceDimensions === sourceDimensions) return { id: existing.id, fitted: false, sampleSize: existing.sampleSize };
  const vectors = await rl.sampleVectors(config.request.pcaSample, DEFAULTS.pcaSeed);
  const fitted = await fitReduction(vectors, side.dimensions);
  const saved = await sink.pcaModels.save(toNewPcaModel(rl.sideTable, fitted, { sampling: 'stored vectors, md5(id || seed) order', seed: DEFAULTS.pcaSeed, population: vectors.length }));
  return { id: saved.id, fitted: true, sampleSize: vectors.length };
}

function reductionOf(value: unknown): Reduction | null {
  return value === 'none' || value === 'truncate' || value === 'pca' ? value : null;
}

/** pgvector's stored size of one vector: an 8-byte header, then 4 (vector) or 2 (halfvec) bytes a number. */
function vectorBytes(l: RelayoutLayout): number {
  return 8 + l.dimensions * (l.vectorType === 'halfvec' ? 2 : 4);
}

/** One pass over the pending rows in id order, page by page; returns rows written. */
async function copyPass(rl: Relayout, transform: RelayoutTransform, pageRows: number, progress: (written: number) => void): Promise<number> {
  let afterId: string | null = null;
  let written = 0;
  for (;;) {
    const page = await rl.copyPage(transform, afterId, pageRows);
    if (page.listed === 0) return written;
    written += page.written;
    progress(page.written);
    afterId = page.lastId;
  }
}

/** Rows done (durable) out of the total, the rate of this run and the time left at it. */
function progressMeter(total: number, alreadyDone: number, observe: RelayoutObserver): (phase: 'copy' | 'catch-up') => (written: number) => void {
  const started = performance.now();
  let doneNow = 0;
  return (phase) => (written) => {
    doneNow += written;
    const rate = doneNow / Math.max((performance.now() - started) / 1000, 1e-3);
    const done = Math.min(total, alreadyDone + doneNow);
    observe({ type: 'relayout-progress', phase, done, total, rowsPerSecond: rate, etaSeconds: rate > 0 ? Math.max(0, total - done) / rate : null });
  };
}
