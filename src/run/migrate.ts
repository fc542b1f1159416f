import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { DEFAULTS, type MigrateConfig } from '../config.js';
import { isMigrateError, MigrateError, toMigrateError } from '../errors.js';
import type { DatabaseInfo, EmbeddingLookup, LoadOptions, LockOptions, PcaModelRecord, Sink, SinkSession, StoreOutcome, TargetSpec } from '../sink/types.js';
import { backupStore } from '../source/backup.js';
import { discoverStores } from '../source/discover.js';
import { KeyRing, keyCandidates } from '../source/keyRing.js';
import type { FernetKey } from '../source/keys.js';
import { inspectStore, readStoreRecords, storeSourceSha256 } from '../source/store.js';
import type { StoreLocation } from '../source/types.js';
import { compareWithFp32 } from '../transform/dtypeQuality.js';
import type { Embedder } from '../transform/embedder.js';
import type { Projector } from '../transform/pca/index.js';
import { createSearchProjector, fitReduction, measureQuality, type FittedReduction } from '../transform/pcaFit.js';
import { checkTableMatches, planReduction, type ReductionPlan } from '../transform/reduction.js';
import { extractTexts, newRowStats, rowBatches } from '../transform/rows.js';
import { deduplicating, keepingStored, projecting, reembedding, reusingStored, truncating, VectorCache, type Vectorizer } from '../transform/vectorize.js';
import { TOOL_VERSION } from '../version.js';
import { checkTableDtype } from './dtypeGuard.js';
import type { RunObserver } from './events.js';
import { isUnchanged, ledgerOptions, selectFailed, storeLabel, toOutcome, vectorFingerprint } from './ledger.js';
import { fromPcaModelRecord, toNewPcaModel } from './pcaModels.js';
import type { DatabaseSummary, DryRunEstimate, ReductionReport, RunReport, StoreReport } from './report.js';
import { withSink, withEmbedder } from './resources.js';
import { sampleEmbeddedTexts, sampleStoredVectors, type SampleSource } from './sample.js';
import { truncationReport } from './truncation.js';

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
  /** A dry run with a dtype other than fp32: runs `fn` with the model's fp32 embedder, for the quality report. */
  withFp32?: <T>(fn: (fp32: Embedder) => Promise<T>) => Promise<T>;
}

/** A recall@10 under this after a fit is reported as a warning. */
const RECALL_WARNING = 0.9;

interface Candidate {
  store: StoreLocation;
  report: StoreReport;
  key: FernetKey;
}

interface RunContext {
  runId: string;
  config: MigrateConfig;
  deps: RunDependencies;
  observe: RunObserver;
  target: TargetSpec;
  vectorizer: Vectorizer;
  /** Latest ledger outcome per store, for the unchanged check. */
  latest: Map<string, StoreOutcome>;
  sample: string[];
  totals: { vectorizeMs: number; loadMs: number };
}

function summarize(info: DatabaseInfo): DatabaseSummary {
  const { driver, location, serverVersion, pgvectorVersion, tableExists, tableDimensions, willBeCreated } = info;
  return { driver, location, serverVersion, pgvectorVersion, tableExists, tableDimensions, willBeCreated };
}

function emptyStoreReport(store: StoreLocation): StoreReport {
  return {
    userId: store.userId,
    collection: store.collection,
    // Not relative to store.dir: that is symlink-resolved, while the root may be reached through a link.
    path: path.join(store.userId, `vector_store_${store.collection}`),
    status: 'ok',
    vectors: null,
    entries: null,
    storedDimensions: null,
    rowsLoaded: 0,
    rowsPlanned: 0,
    rowsSkipped: 0,
    rowsReused: 0,
    sourceSha256: null,
    key: null,
    skippedEntries: [],
    warnings: [],
    error: null,
    backupPath: null,
    durationMs: 0,
  };
}

function reasonOf(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return typeof r === 'string' ? r : r instanceof Error ? r.message : 'aborted';
}

/** A store the run did not start because it was interrupted: not a failure, not in the ledger. */
function notStarted(report: StoreReport, signal: AbortSignal): void {
  const message = `not started: the run was interrupted (${reasonOf(signal)}); run it again to load this store`;
  report.status = 'skipped';
  report.warnings.push(message);
  report.error = { code: 'E_INTERRUPTED', message };
}

function fail(report: StoreReport, err: unknown): void {
  const e = toMigrateError(err, 'E_INTERNAL', `${report.userId}/${report.collection}`);
  report.status = 'failed';
  report.rowsLoaded = 0;
  report.error = { code: e.code, message: e.message };
}

async function discover(config: MigrateConfig): Promise<{ stores: StoreLocation[]; skipped: StoreReport[]; refused: Map<StoreLocation, MigrateError> }> {
  const stores: StoreLocation[] = [];
  const skipped: StoreReport[] = [];
  // Stores seen but unreadable go through filtering and --retry-failed like the others, then fail in validate.
  const refused = new Map<StoreLocation, MigrateError>();
  for await (const event of discoverStores(config.root, config.users === null ? {} : { users: config.users })) {
    if (event.kind === 'store' || event.kind === 'unreadable') {
      stores.push(event.store);
      if (event.kind === 'unreadable') refused.set(event.store, new MigrateError(event.code, `${storeLabel(event.store)}: ${event.reason}`));
      continue;
    }
    const rel = path.relative(config.root, event.path) || event.path;
    const [userPart = rel, collectionPart = '-'] = rel.split(path.sep);
    const location = { userId: userPart, collection: collectionPart.replace(/^vector_store_/, ''), dir: event.path, vectorsPath: null, metadataPath: null };
    skipped.push({ ...emptyStoreReport(location), path: rel, status: 'skipped', warnings: [event.reason], error: { code: event.code, message: event.reason } });
  }
  return { stores, skipped, refused };
}

/**
 * Validates every store before anything is written: the whole pickle is decoded, the metadata
 * decrypted and parsed, the counts compared. Only stores that pass become candidates.
 */
async function validate(config: MigrateConfig, stores: StoreLocation[], refused: ReadonlyMap<StoreLocation, MigrateError>): Promise<{ candidates: Candidate[]; reports: StoreReport[] }> {
  const keys = new KeyRing(keyCandidates(config.masterKeys, config.tryDefaultKey));
  const candidates: Candidate[] = [];
  const reports: StoreReport[] = [];
  for (const store of stores) {
    const report = emptyStoreReport(store);
    reports.push(report);
    const started = performance.now();
    try {
      const refusal = refused.get(store);
      if (refusal !== undefined) throw refusal;
      const chosen = await keys.forStore(store);
      const resolvedKey = chosen.key;
      report.sourceSha256 = await storeSourceSha256(store);
      const inspection = await inspectStore(store, resolvedKey);
      report.vectors = inspection.manifest.vectors;
      report.entries = inspection.manifest.entries;
      report.storedDimensions = inspection.manifest.dimensions;
      if (inspection.error !== null) throw inspection.error;
      report.key = chosen.label;
      candidates.push({ store, report, key: resolvedKey });
    } catch (err) {
      fail(report, err);
    }
    report.durationMs = Math.round(performance.now() - started);
  }
  return { candidates, reports };
}

/**
 * Keep mode loads every store in one dimension: the table's (when it already has rows of a
 * dimension, and they are not truncations of longer vectors) or else the dimension most stored
 * vectors have. Stores of another dimension fail.
 * When every store failed (a wrong master key), the dimension of their readable pickles still
 * lets the run record each store's own failure in the ledger instead of hiding them.
 */
function keptDimensions(candidates: Candidate[], reports: StoreReport[], active: PcaModelRecord | null, info: DatabaseInfo, refit: boolean, truncate: boolean): number {
  if (active !== null && !refit) return active.sourceDimensions;
  if (info.tableExists && active === null && info.tableDimensions !== null && !truncate) return info.tableDimensions;
  const top = mostVectorsDimension(candidates.map((c) => c.report)) ?? mostVectorsDimension(reports.filter((r) => r.status === 'failed'));
  if (top === null) {
    const failed = reports.filter((r) => r.status === 'failed');
    const why = failed.length === 0 ? 'every store is empty' : `every store failed: ${failed.slice(0, 5).map((r) => `${r.userId}/${r.collection} ${r.error?.code ?? ''}`).join(', ')}${failed.length > 5 ? ', …' : ''}`;
    throw new MigrateError('E_USAGE', `keep mode found no stored vectors to load (${why})`);
  }
  return top;
}

function mostVectorsDimension(reports: StoreReport[]): number | null {
  const vectorsByDim = new Map<number, number>();
  for (const r of reports) {
    const d = r.storedDimensions;
    if (d !== null) vectorsByDim.set(d, (vectorsByDim.get(d) ?? 0) + (r.vectors ?? 0));
  }
  const ranked = [...vectorsByDim.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return ranked[0]?.[0] ?? null;
}

async function fitOrReuse(
  config: MigrateConfig,
  deps: RunDependencies,
  observe: RunObserver,
  plan: Extract<ReductionPlan, { method: 'pca' }>,
  active: PcaModelRecord | null,
  sources: SampleSource[],
): Promise<{ fitted: FittedReduction | null; record: PcaModelRecord | null; reduction: ReductionReport }> {
  if (plan.model === 'reuse' && active !== null) {
    const model = fromPcaModelRecord(active);
    const stored = active.fit['quality'] as { recallAt10?: number | null; evaluation?: 'held-out' | 'in-sample' } | undefined;
    return {
      fitted: null,
      record: active,
      reduction: {
        method: 'pca',
        sourceDimensions: active.sourceDimensions,
        targetDimensions: active.targetDimensions,
        explainedVariance: measureQuality(model, [], 'held-out').explainedVariance,
        recallAt10: stored?.recallAt10 ?? null,
        fitMs: 0,
        pcaModelId: active.id,
        reused: true,
        sampleSize: active.sampleSize,
        evaluation: stored?.evaluation ?? null,
        notes: [`reused the table's PCA model ${active.id} (fitted ${active.createdAt}); --refit-pca replaces it`],
      },
    };
  }
  const { pcaSample, pcaSeed } = config.reduction;
  observe({ type: 'sampling', sampleSize: pcaSample, method: 'pca' });
  const sample =
    deps.embedder === null || config.embeddings === 'keep'
      ? await sampleStoredVectors(sources, pcaSample, pcaSeed)
      : await sampleEmbeddedTexts(sources, pcaSample, pcaSeed, deps.embedder, config.batchSize);
  const fitted = await fitReduction(sample.vectors, plan.dimensions);
  const { quality } = fitted;
  return {
    fitted,
    record: null,
    reduction: {
      method: 'pca',
      sourceDimensions: plan.sourceDimensions,
      targetDimensions: plan.dimensions,
      explainedVariance: quality.explainedVariance,
      recallAt10: quality.recallAt10,
      fitMs: fitted.fitMs,
      pcaModelId: null,
      reused: false,
      sampleSize: fitted.model.sampleSize,
      evaluation: quality.evaluation,
      notes: [`sample of ${sample.vectors.length} vectors drawn uniformly from ${sample.population} across ${sample.stores} stores (seed ${pcaSeed})`, ...fitted.model.notes],
    },
  };
}

async function planStore(ctx: RunContext, c: Candidate): Promise<void> {
  const stats = newRowStats();
  for await (const pending of extractTexts(readStoreRecords(c.store, c.key, { withVectors: false }), stats)) {
    c.report.rowsPlanned++;
    if (ctx.sample.length < ctx.config.dryRunSampleSize) ctx.sample.push(pending.text);
  }
  c.report.rowsSkipped = stats.skipped.length;
  c.report.skippedEntries = stats.skipped;
  c.report.warnings.push(...stats.warnings);
}

type Replace = SinkSession['replaceStore'];

async function loadStore(ctx: RunContext, c: Candidate, replace: Replace, reuse: boolean): Promise<void> {
  const { config, target, observe } = ctx;
  const stats = newRowStats();
  const rowsTotal = c.report.entries ?? 0;
  const key = { userId: c.store.userId, collection: c.store.collection };
  const counter = { reused: 0 };
  const rowFingerprint = vectorFingerprint(ctx.vectorizer, target.vectorType ?? 'vector');
  const fingerprint = { embeddingModel: ctx.vectorizer.label, pcaModelId: ctx.vectorizer.pcaModelId, embeddingFingerprint: rowFingerprint };
  // The sink hands over a lookup bound to a connection that may read while this store's transaction streams.
  const produce = (lookup: EmbeddingLookup) => {
    const vectorizer = reuse ? reusingStored(ctx.vectorizer, (shas) => lookup(shas, fingerprint), counter) : ctx.vectorizer;
    const records = readStoreRecords(c.store, c.key, { withVectors: vectorizer.needsStoredVectors });
    // Rows done include entries vectorized but not yet loaded: a window of a re-embedding run is
    // a couple of thousand texts, most of a minute on a CPU.
    const progress = () => observe({ type: 'store-progress', ...key, rowsDone: stats.rows + stats.vectorized + stats.skipped.length, rowsTotal });
    const batches = rowBatches(records, { ...key, fingerprint: rowFingerprint, ownerInMetadata: config.ownerInMetadata }, vectorizer, config.batchSize, stats, { onProgress: progress });
    return (async function* () {
      for await (const batch of batches) {
        yield batch;
        progress();
      }
    })();
  };
  const options: LoadOptions = {
    runId: ctx.runId,
    lock: config.noWait ? 'no-wait' : 'wait',
    onWait: () => observe({ type: 'waiting', ...key, reason: 'another run is writing this store; waiting for it to finish' }),
  };
  const started = performance.now();
  try {
    const result = await replace(target, key, produce, options);
    const expected = rowsTotal - stats.skipped.length;
    if (result.rowsLoaded !== expected) {
      throw new MigrateError('E_LOAD', `${storeLabel(key)}: loaded ${result.rowsLoaded} rows but expected ${expected}; the source changed during the run? re-run this store`);
    }
    c.report.rowsLoaded = result.rowsLoaded;
    c.report.rowsReused = counter.reused;
  } finally {
    ctx.totals.vectorizeMs += stats.vectorizeMs;
    ctx.totals.loadMs += performance.now() - started - stats.vectorizeMs;
    c.report.rowsSkipped = stats.skipped.length;
    c.report.skippedEntries = stats.skipped;
    c.report.warnings.push(...stats.warnings);
  }
}

/** Backs up (live runs) then loads or plans one store; failures stay in its report. */
async function processStore(ctx: RunContext, c: Candidate, replace: Replace, reuse: boolean): Promise<void> {
  const started = performance.now();
  try {
    const fingerprint = vectorFingerprint(ctx.vectorizer, ctx.target.vectorType ?? 'vector');
    if (!ctx.config.force && isUnchanged(ctx.latest.get(storeLabel(c.store)), c.report.sourceSha256, fingerprint)) {
      c.report.status = 'unchanged';
      c.report.warnings.push('source files and model unchanged since its last successful load; not reloaded (use --force to reload)');
    } else if (ctx.config.dryRun) {
      await planStore(ctx, c);
    } else {
      if (ctx.config.backupDir !== null) c.report.backupPath = (await backupStore(c.store, ctx.config.backupDir, (ctx.deps.now ?? (() => new Date()))())).dir;
      await loadStore(ctx, c, replace, reuse);
    }
  } catch (err) {
    fail(c.report, err);
  }
  c.report.durationMs += Math.round(performance.now() - started);
}

async function estimate(ctx: RunContext, rowsToEmbed: number): Promise<DryRunEstimate | null> {
  const { sample } = ctx;
  const embedder = ctx.deps.embedder;
  if (embedder === null || ctx.config.embeddings === 'keep') return null;
  if (sample.length === 0) return { sampleSize: 0, docsPerSecond: 0, rowsToEmbed, estimatedSeconds: 0 };
  ctx.observe({ type: 'estimate-start', sampleSize: sample.length });
  // The first call pays for graph optimisation and allocation; it would inflate the estimate.
  await embedder.embed(sample.slice(0, 1));
  const started = performance.now();
  for (let i = 0; i < sample.length; i += ctx.config.batchSize) await embedder.embed(sample.slice(i, i + ctx.config.batchSize));
  const seconds = (performance.now() - started) / 1000;
  const docsPerSecond = sample.length / Math.max(seconds, 1e-6);
  const withFp32 = ctx.deps.withFp32;
  const dtypeQuality = withFp32 === undefined ? undefined : await withFp32((fp32) => compareWithFp32(embedder, fp32, sample, ctx.config.batchSize));
  return { sampleSize: sample.length, docsPerSecond, rowsToEmbed, estimatedSeconds: rowsToEmbed / docsPerSecond, ...(dtypeQuality === undefined ? {} : { dtypeQuality }) };
}

/**
 * A refit rewrites every row of the table into the new space, so the run must cover every store
 * the table holds: rows it could not re-project would be left in the old space. Rows applications
 * wrote have no source vector to re-project, and the tool never deletes or changes them: refused.
 */
async function checkRefitCovers(sink: Sink, target: TargetSpec, candidates: Candidate[]): Promise<void> {
  const written = await sink.applicationRows(target);
  if (written.length > 0) {
    const shown = written.slice(0, 10).map((s) => `${storeLabel(s)}: ${s.rows}`).join(', ');
    throw new MigrateError(
      'E_USAGE',
      `--refit-pca re-projects every row of ${target.table} from its source vector, but ${written.reduce((n, s) => n + s.rows, 0)} rows were written by applications (${shown}${written.length > 10 ? ', …' : ''}) and have none; the tool never changes them. Re-embed the whole table from its texts instead (reembed --model M --reduce pca), or load into another --table`,
    );
  }
  const covered = new Set(candidates.map((c) => storeLabel(c.store)));
  const missing = (await sink.listStoreKeys(target)).filter((k) => !covered.has(storeLabel(k)));
  if (missing.length > 0) {
    const shown = missing.slice(0, 10).map(storeLabel).join(', ');
    throw new MigrateError(
      'E_USAGE',
      `--refit-pca rewrites every row of ${target.table}, but this run cannot re-project ${missing.length} of its stores (${shown}${missing.length > 10 ? ', …' : ''}): they are not among the valid stores of this run (filtered out, failing, or gone from the source)`,
    );
  }
}

/**
 * Runs a migration with a sink (and, to re-embed, an embedder) that the caller owns. Usage and
 * connection problems throw (MigrateError) before anything is written; a store's problems are
 * recorded in its report and the run goes on. A PCA refit is the exception: it rewrites the whole
 * table in one transaction, so one failing store rolls every store back.
 */
export async function runMigration(config: MigrateConfig, deps: RunDependencies, observe: RunObserver = () => {}): Promise<RunReport> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const runId = randomUUID();
  const { sink } = deps;
  if (config.embeddings === 'reembed' && deps.embedder === null) throw new MigrateError('E_CONFIG', 're-embedding needs a model; pass --model or use --embeddings keep');

  const discovered = await discover(config);
  const { skipped } = discovered;
  let stores = config.collections === null ? discovered.stores : discovered.stores.filter((s) => config.collections?.includes(s.collection));
  const latestOutcomes = await sink.latestOutcomes({ table: config.table });
  if (config.retryFailed) {
    const { selected, missing } = selectFailed(stores, latestOutcomes);
    stores = selected;
    for (const o of missing) {
      const why = `failed in run ${o.runId} (${o.errorCode}) but is not among this run's stores (gone from the root, or filtered out)`;
      const location = { userId: o.userId, collection: o.collection, dir: '', vectorsPath: null, metadataPath: null };
      skipped.push({ ...emptyStoreReport(location), status: 'skipped', warnings: [why], error: { code: 'E_USAGE', message: why } });
    }
  }
  observe({ type: 'validating', stores: stores.length });
  const { candidates: validated, reports } = await validate(config, stores, discovered.refused);

  const active = await sink.getPcaModel({ table: config.table });
  // With --partitions, a table of another layout is refused here, before anything is read or written.
  const probe = await sink.inspect({ table: config.table, dimensions: 1, ...layoutOf(config) });
  const sourceDimensions =
    config.embeddings === 'keep' || deps.embedder === null ? keptDimensions(validated, reports, active, probe, config.reduction.refit, config.reduction.mode === 'truncate') : deps.embedder.dimensions;
  const plan = planReduction({
    sourceDimensions,
    mode: config.reduction.mode,
    dimensions: config.reduction.dimensions,
    pgvectorVersion: probe.pgvectorVersion,
    activePca: active,
    refit: config.reduction.refit,
  });
  // PCA projections keep L2 distances, not angles: such tables are indexed and searched by L2.
  const target: TargetSpec = { table: config.table, dimensions: plan.dimensions, vectorType: plan.vectorType, distance: plan.method === 'pca' ? 'l2' : 'cosine', ...layoutOf(config) };
  checkTableMatches(plan, config.table, { exists: probe.tableExists, dimensions: probe.tableDimensions, vectorType: probe.tableVectorType });
  if (config.embeddings === 'reembed' && deps.embedder !== null) await checkTableDtype(sink, config.table, deps.embedder.fingerprint);

  // Keep mode: a store of another dimension cannot join this run's space.
  const candidates = validated.filter((c) => {
    if (config.embeddings !== 'keep' || c.report.storedDimensions === null || c.report.storedDimensions === sourceDimensions) return true;
    fail(c.report, new MigrateError('E_DIM_MISMATCH', `${storeLabel(c.store)} holds ${c.report.storedDimensions}-dimension vectors; this run loads ${sourceDimensions}-dimension vectors (run it separately, into another --table)`));
    return false;
  });
  const refit = config.reduction.refit && plan.method === 'pca';
  if (refit) await checkRefitCovers(sink, target, candidates);

  let base: Vectorizer = deps.embedder === null || config.embeddings === 'keep' ? keepingStored(config.keptLabel, sourceDimensions) : deduplicating(reembedding(deps.embedder, { batchSize: config.batchSize }), VectorCache.forBudget(deps.embedder.dimensions));
  let reduction: ReductionReport = {
    method: plan.method,
    sourceDimensions,
    targetDimensions: plan.dimensions,
    explainedVariance: 1,
    recallAt10: null,
    fitMs: 0,
    pcaModelId: null,
    reused: false,
    sampleSize: null,
    evaluation: null,
    notes: [],
  };
  let projector: Projector | null = null;
  let pending: ReturnType<typeof toNewPcaModel> | null = null;
  const runWarnings: string[] = [];
  if (plan.method === 'pca') {
    const sources = candidates.map((c) => ({ store: c.store, key: c.key }));
    const result = await fitOrReuse(config, deps, observe, plan, active, sources);
    reduction = result.reduction;
    const fitted = result.fitted;
    const model = fitted !== null ? fitted.model : fromPcaModelRecord(result.record as PcaModelRecord);
    projector = createSearchProjector(model);
    if (fitted !== null) {
      pending = toNewPcaModel(config.table, fitted, { runId, seed: config.reduction.pcaSeed, requestedSample: config.reduction.pcaSample, strategy: 'uniform reservoir sample across all users and stores', embeddings: config.embeddings, source: base.label });
      if (reduction.recallAt10 !== null && reduction.recallAt10 < RECALL_WARNING) {
        runWarnings.push(`PCA to ${plan.dimensions} dimensions keeps a neighbour recall@10 of ${reduction.recallAt10.toFixed(3)} (under ${RECALL_WARNING}): search quality drops; consider --reduce halfvec or more dimensions`);
      }
    }
  }
  if (plan.method === 'truncate') {
    reduction = await truncationReport(config, deps.embedder, observe, plan, candidates.map((c) => ({ store: c.store, key: c.key })));
    base = truncating(base, plan.dimensions);
    if (reduction.recallAt10 !== null && reduction.recallAt10 < RECALL_WARNING) {
      runWarnings.push(`truncating to ${plan.dimensions} dimensions keeps a neighbour recall@10 of ${reduction.recallAt10.toFixed(3)} (under ${RECALL_WARNING}): these vectors were not trained to be shortened; consider --reduce halfvec or pca`);
    }
  }
  observe({ type: 'reduction', reduction });

  observe({
    type: 'run-start',
    runId,
    dryRun: config.dryRun,
    root: config.root,
    table: config.table,
    model: base.label,
    dimensions: target.dimensions,
    database: summarize(probe),
    stores: stores.length,
    skipped: skipped.length,
  });
  for (const s of skipped) observe({ type: 'skipped', path: s.path, reason: s.warnings[0] ?? '' });
  for (const r of reports.filter((r) => r.status === 'failed')) observe({ type: 'store-done', store: r });

  const latest = new Map(latestOutcomes.map((o) => [storeLabel(o), o]));
  const ctx: RunContext = { runId, config, deps, observe, target, vectorizer: base, latest, sample: [], totals: { vectorizeMs: 0, loadMs: 0 } };
  // Recomputing is what reuse saves; kept vectors cost nothing to load and may differ for the same text.
  const reuse = config.embeddings === 'reembed' && !refit;
  const record = async (report: StoreReport) => {
    if (config.dryRun) return;
    await sink.recordStore(toOutcome(runId, config.table, report, vectorFingerprint(ctx.vectorizer, plan.vectorType)));
  };
  let runStarted = false;
  const { signal } = deps;
  // Set where the signal actually stopped work (a store not started, the index build skipped).
  let stopped = false;
  // A new table, or one without a valid HNSW index, is loaded without it and indexed once at the
  // end (also when stores failed): far faster than growing the graph row by row. Meanwhile its
  // readers get correct results by a scan, without the ANN index. A run that dies before that
  // leaves the index missing; the next run finds it so and builds it.
  const deferIndex = !config.dryRun && probe.searchIndex !== 'valid';
  let schemaReady = false;
  let searchIndex: { built: boolean; ms: number } | undefined;
  let diskFull = false;
  try {
    if (!config.dryRun) {
      await sink.ensureSchema(target, { deferSearchIndex: deferIndex });
      schemaReady = true;
      await sink.startRun({ id: runId, toolVersion: TOOL_VERSION, options: ledgerOptions(config, probe.location) }, target);
      runStarted = true;
      await sink.purgePrevious(target, config.keepPreviousDays);
      for (const r of reports.filter((r) => r.status === 'failed')) await record(r);
    }
    const each = async (replace: Replace, onFailure: (c: Candidate) => void) => {
      for (const [i, c] of candidates.entries()) {
        if (signal?.aborted === true) {
          // A refit that stopped part-way would leave two PCA spaces: it rolls back whole.
          if (refit) throw new MigrateError('E_INTERRUPTED', `the run was interrupted (${reasonOf(signal)})`);
          for (const rest of candidates.slice(i)) notStarted(rest.report, signal);
          stopped = true;
          break;
        }
        observe({ type: 'store-start', userId: c.store.userId, collection: c.store.collection, position: i + 1, of: candidates.length });
        await processStore(ctx, c, replace, reuse);
        observe({ type: 'store-done', store: c.report });
        if (c.report.status === 'failed') onFailure(c);
        // Inside a refit the outcome is known only when the transaction ends.
        if (!refit) await record(c.report);
        // The next stores would meet the same full disk: stop the run (exit 2) rather than fail them one by one.
        if (c.report.error?.code === 'E_DISK_FULL') {
          diskFull = true;
          throw new MigrateError('E_DISK_FULL', `the run stops: ${storeLabel(c.store)} failed: ${c.report.error.message}`);
        }
      }
    };
    const direct: Replace = (t, k, b, o) => sink.replaceStore(t, k, b, o);
    if (config.dryRun || projector === null) {
      await each(direct, () => {});
    } else if (pending !== null && refit) {
      await refitInOneTransaction(ctx, candidates, projector, pending, (r) => (reduction = { ...reduction, pcaModelId: r.id }), each);
      for (const c of candidates) await record(c.report);
    } else {
      const saved = pending !== null ? await sink.savePcaModel(pending) : (active as PcaModelRecord);
      reduction = { ...reduction, pcaModelId: saved.id };
      ctx.vectorizer = projecting(base, projector, saved);
      await each(direct, () => {});
    }
  } finally {
    await projector?.dispose();
    if (schemaReady && deferIndex && signal?.aborted === true) {
      stopped = true;
      runWarnings.push(`the HNSW index of ${target.table} was not built (the run was interrupted); searches are correct but scan until a later run builds it`);
    } else if (schemaReady && deferIndex && !diskFull) {
      // (Not on a full disk: an index build there would only fail again, and PGlite never returns from that.)
      try {
        // A table this run created has no other users: a plain build (one pass, no waiting for
        // other sessions' transactions). An existing one is indexed CONCURRENTLY (pg), so the
        // application's writes to it go on meanwhile.
        searchIndex = await sink.buildSearchIndex(target, { concurrently: probe.tableExists });
      } catch (err) {
        const e = toMigrateError(err, 'E_SCHEMA', `building the HNSW index of ${target.table}`);
        runWarnings.push(`the HNSW index of ${target.table} could not be built (${e.code}: ${e.message}); searches are correct but scan until a later run builds it`);
      }
    }
    if (schemaReady) {
      // Statistics of the loaded table, after its index: the planner then knows how few rows one
      // user has (which is when it filters an HNSW scan by user: see sink/searchSettings.ts).
      await sink.analyze(target).catch((err: unknown) => {
        const e = toMigrateError(err, 'E_LOAD', `analyzing ${target.table}`);
        runWarnings.push(`ANALYZE of ${target.table} failed (${e.code}: ${e.message}); run ANALYZE ${target.table} yourself`);
      });
    }
    if (runStarted) {
      // When the run is already failing, closing the ledger must not replace that error with its own;
      // an unclosed run shows as 'running' and its stores' outcomes are recorded regardless.
      await sink.finishRun(runId, stopped || interrupted(reports) ? 'interrupted' : reports.some((r) => r.status === 'failed') ? 'failed' : 'succeeded', target).catch(() => undefined);
    }
  }

  const all = [...reports, ...skipped].sort((a, b) => a.path.localeCompare(b.path));
  const rowsPlanned = reports.reduce((n, s) => n + s.rowsPlanned, 0);
  const report: RunReport = {
    runId,
    dryRun: config.dryRun,
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    root: config.root,
    table: config.table,
    model: base.label,
    embeddings: config.embeddings,
    dimensions: target.dimensions,
    reduction,
    database: summarize(probe),
    stores: all,
    totals: {
      stores: all.length,
      ok: all.filter((s) => s.status === 'ok').length,
      failed: all.filter((s) => s.status === 'failed').length,
      skipped: all.filter((s) => s.status === 'skipped').length,
      unchanged: all.filter((s) => s.status === 'unchanged').length,
      rowsReused: reports.reduce((n, s) => n + s.rowsReused, 0),
      rowsLoaded: reports.reduce((n, s) => n + s.rowsLoaded, 0),
      rowsPlanned,
      rowsSkipped: reports.reduce((n, s) => n + s.rowsSkipped, 0),
      vectorizeMs: Math.round(ctx.totals.vectorizeMs),
      loadMs: Math.round(ctx.totals.loadMs),
    },
    estimate: config.dryRun ? await estimate(ctx, rowsPlanned) : null,
    warnings: runWarnings,
    ...(searchIndex === undefined ? {} : { searchIndex }),
    ...(signal !== undefined && (stopped || interrupted(reports)) ? { interrupted: { reason: reasonOf(signal), storesNotStarted: reports.filter(isNotStarted).length } } : {}),
  };
  report.finishedAt = now().toISOString();
  observe({ type: 'run-done', report });
  return report;
}

/**
 * --refit-pca: the new model and every store's re-projected rows commit together or not at all,
 * so search never sees two PCA spaces in one table.
 */
async function refitInOneTransaction(
  ctx: RunContext,
  candidates: Candidate[],
  projector: Projector,
  pending: ReturnType<typeof toNewPcaModel>,
  onSaved: (record: PcaModelRecord) => void,
  each: (replace: Replace, onFailure: (c: Candidate) => void) => Promise<void>,
): Promise<void> {
  const base = ctx.vectorizer;
  let firstFailure: Candidate | null = null;
  try {
    const lock: LockOptions = {
      lock: ctx.config.noWait ? 'no-wait' : 'wait',
      onWait: () => ctx.observe({ type: 'waiting-table', table: ctx.target.table, reason: 'other runs are loading this table; the refit rewrites all of it, so it waits for them to finish' }),
    };
    await ctx.deps.sink.transaction(ctx.target, async (session) => {
      const record = await session.savePcaModel(pending);
      ctx.vectorizer = projecting(base, projector, record);
      await each(
        (t, k, b, o) => session.replaceStore(t, k, b, o),
        (c) => {
          throw new MigrateError('E_LOAD', `refit aborted: ${storeLabel(c.store)} failed (${c.report.error?.code})`);
        },
      );
      onSaved(record);
    }, lock);
  } catch (err) {
    firstFailure = candidates.find((c) => c.report.status === 'failed') ?? null;
    const why = firstFailure === null ? toMigrateError(err, 'E_LOAD', 'refit').message : `${storeLabel(firstFailure.store)} failed`;
    const code = firstFailure === null && isMigrateError(err) && err.code === 'E_INTERRUPTED' ? 'E_INTERRUPTED' : 'E_LOAD';
    for (const c of candidates) {
      if (c === firstFailure) continue;
      fail(c.report, new MigrateError(code, `rolled back: --refit-pca rewrites the whole table in one transaction and ${why}; nothing was changed`));
    }
  }
}

/**
 * Opens the database (and, to re-embed, the model) from the configuration, runs, and closes them.
 * `options.signal` stops the run between stores (RunDependencies.signal).
 */
export function migrate(config: MigrateConfig, observe?: RunObserver, options: { signal?: AbortSignal } = {}): Promise<RunReport> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  return withSink(config.database, { readOnly: config.dryRun, purpose: 'migrate' }, (sink) =>
    config.embeddings === 'keep'
      ? runMigration(config, { sink, embedder: null, ...signal }, observe)
      : withEmbedder(config.model, (embedder) => runMigration(config, { sink, embedder, ...signal, ...fp32Reference(config) }, observe)),
  );
}

/** A dry run of another dtype compares it with fp32 on the estimate's sample (DryRunEstimate.dtypeQuality). */
function fp32Reference(config: MigrateConfig): Pick<RunDependencies, 'withFp32'> {
  if (!config.dryRun || (config.model.dtype ?? DEFAULTS.dtype) === 'fp32') return {};
  return { withFp32: (fn) => withEmbedder({ ...config.model, dtype: 'fp32' }, fn) };
}

function isNotStarted(r: StoreReport): boolean {
  return r.status === 'skipped' && r.error?.code === 'E_INTERRUPTED';
}

/** Interrupted: some store was not started, or (refit) rolled back because of the signal. */
function interrupted(reports: StoreReport[]): boolean {
  return reports.some((r) => isNotStarted(r) || (r.status === 'failed' && r.error?.code === 'E_INTERRUPTED'));
}

/** --partitions and --rls as TargetSpec fields (ensureSchema creates/secures the table accordingly). */
function layoutOf(config: MigrateConfig): Pick<TargetSpec, 'partitions' | 'rls'> {
  return { ...(config.partitions === null ? {} : { partitions: config.partitions }), ...(config.rls ? { rls: true } : {}) };
}
