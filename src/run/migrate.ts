import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { DEFAULTS, type MigrateConfig } from '../config.js';
import { MigrateError, toMigrateError } from '../errors.js';
import type { DatabaseInfo, Sink, TargetSpec } from '../sink/types.js';
import { backupStore } from '../source/backup.js';
import { discoverStores } from '../source/discover.js';
import { deriveUserKey, type FernetKey } from '../source/keys.js';
import { inspectStore, readStoreRecords } from '../source/store.js';
import type { StoreLocation } from '../source/types.js';
import type { Embedder } from '../transform/embedder.js';
import { embedRowBatches, extractTexts, newRowStats } from '../transform/rows.js';
import type { RunObserver } from './events.js';
import type { DatabaseSummary, DryRunEstimate, RunReport, StoreReport } from './report.js';
import { withSinkAndEmbedder } from './resources.js';

export interface RunDependencies {
  embedder: Embedder;
  sink: Sink;
  now?: () => Date;
}

function summarize(info: DatabaseInfo): DatabaseSummary {
  const { driver, location, serverVersion, pgvectorVersion, tableExists, tableDimensions, willBeCreated } = info;
  return { driver, location, serverVersion, pgvectorVersion, tableExists, tableDimensions, willBeCreated };
}

/** Refuses, before anything is written, a target the model's vectors cannot go into. */
function checkTarget(info: DatabaseInfo, target: TargetSpec, modelId: string): void {
  if (target.dimensions > DEFAULTS.maxIndexedDimensions) {
    throw new MigrateError(
      'E_DIM_MISMATCH',
      `model ${modelId} produces ${target.dimensions}-dimension vectors, over pgvector's ${DEFAULTS.maxIndexedDimensions}-dimension index limit; choose a smaller model`,
    );
  }
  if (info.tableExists && info.tableDimensions !== target.dimensions) {
    throw new MigrateError(
      'E_DIM_MISMATCH',
      `table ${target.table} holds ${info.tableDimensions}-dimension vectors but model ${modelId} produces ${target.dimensions}; use another --table or the model the table was built with`,
    );
  }
}

function emptyStoreReport(store: StoreLocation, root: string): StoreReport {
  return {
    userId: store.userId,
    collection: store.collection,
    path: path.relative(root, store.dir),
    status: 'ok',
    vectors: null,
    entries: null,
    storedDimensions: null,
    rowsLoaded: 0,
    rowsPlanned: 0,
    rowsSkipped: 0,
    skippedEntries: [],
    warnings: [],
    error: null,
    backupPath: null,
    durationMs: 0,
  };
}

interface RunState {
  config: MigrateConfig;
  deps: RunDependencies;
  target: TargetSpec;
  observe: RunObserver;
  keys: Map<string, Promise<FernetKey>>;
  sample: string[];
  startedAt: Date;
  embedMs: number;
  loadMs: number;
}

function userKey(state: RunState, userId: string): Promise<FernetKey> {
  // PBKDF2 with 100000 iterations is costly; users often have several collections.
  let key = state.keys.get(userId);
  if (key === undefined) {
    key = deriveUserKey(userId, state.config.masterKey?.reveal());
    state.keys.set(userId, key);
  }
  return key;
}

async function planStore(state: RunState, store: StoreLocation, key: FernetKey, report: StoreReport): Promise<void> {
  const stats = newRowStats();
  for await (const pending of extractTexts(readStoreRecords(store, key, { withVectors: false }), stats)) {
    report.rowsPlanned++;
    if (state.sample.length < state.config.dryRunSampleSize) state.sample.push(pending.text);
  }
  report.rowsSkipped = stats.skipped.length;
  report.skippedEntries = stats.skipped;
  report.warnings.push(...stats.warnings);
}

async function loadStore(state: RunState, store: StoreLocation, key: FernetKey, report: StoreReport): Promise<void> {
  const { config, deps, target, observe } = state;
  const stats = newRowStats();
  const rowsTotal = (report.entries ?? 0);
  const ctx = { userId: store.userId, collection: store.collection };
  const batches = embedRowBatches(readStoreRecords(store, key, { withVectors: false }), ctx, deps.embedder, config.batchSize, stats);
  async function* withProgress() {
    for await (const batch of batches) {
      yield batch;
      observe({ type: 'store-progress', ...ctx, rowsDone: stats.rows + stats.skipped.length, rowsTotal });
    }
  }
  const started = performance.now();
  try {
    const result = await deps.sink.replaceStore(target, ctx, withProgress());
    const expected = rowsTotal - stats.skipped.length;
    if (result.rowsLoaded !== expected) {
      // The sink committed already; this can only mean the source changed under us. Say so loudly.
      throw new MigrateError('E_LOAD', `${store.userId}/${store.collection}: loaded ${result.rowsLoaded} rows but expected ${expected}; re-run this store`);
    }
    report.rowsLoaded = result.rowsLoaded;
  } finally {
    state.embedMs += stats.embedMs;
    state.loadMs += performance.now() - started - stats.embedMs;
    report.rowsSkipped = stats.skipped.length;
    report.skippedEntries = stats.skipped;
    report.warnings.push(...stats.warnings);
  }
}

async function processStore(state: RunState, store: StoreLocation): Promise<StoreReport> {
  const { config } = state;
  const report = emptyStoreReport(store, config.root);
  const started = performance.now();
  try {
    if (config.backupDir !== null && !config.dryRun) {
      report.backupPath = (await backupStore(store, config.backupDir, (state.deps.now ?? (() => new Date()))())).dir;
    }
    const key = await userKey(state, store.userId);
    const inspection = await inspectStore(store, key);
    report.vectors = inspection.manifest.vectors;
    report.entries = inspection.manifest.entries;
    report.storedDimensions = inspection.manifest.dimensions;
    if (inspection.error !== null) throw inspection.error;
    if (config.dryRun) await planStore(state, store, key, report);
    else await loadStore(state, store, key, report);
  } catch (err) {
    const e = toMigrateError(err, 'E_INTERNAL', `${store.userId}/${store.collection}`);
    report.status = 'failed';
    report.rowsLoaded = 0;
    report.error = { code: e.code, message: e.message };
  }
  report.durationMs = Math.round(performance.now() - started);
  return report;
}

async function estimate(state: RunState, rowsToEmbed: number): Promise<DryRunEstimate> {
  const { sample } = state;
  if (sample.length === 0) return { sampleSize: 0, docsPerSecond: 0, rowsToEmbed, estimatedSeconds: 0 };
  state.observe({ type: 'estimate-start', sampleSize: sample.length });
  // The first call pays for graph optimisation and allocation; it would inflate the estimate.
  await state.deps.embedder.embed(sample.slice(0, 1));
  const started = performance.now();
  for (let i = 0; i < sample.length; i += state.config.batchSize) {
    await state.deps.embedder.embed(sample.slice(i, i + state.config.batchSize));
  }
  const seconds = (performance.now() - started) / 1000;
  const docsPerSecond = sample.length / Math.max(seconds, 1e-6);
  return { sampleSize: sample.length, docsPerSecond, rowsToEmbed, estimatedSeconds: rowsToEmbed / docsPerSecond };
}

/**
 * Runs a migration with an embedder and a sink that the caller owns. Usage and connection
 * problems throw (MigrateError); a store's problems are recorded in its report and the run goes on.
 */
export async function runMigration(config: MigrateConfig, deps: RunDependencies, observe: RunObserver = () => {}): Promise<RunReport> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const runId = randomUUID();
  const target: TargetSpec = { table: config.table, dimensions: deps.embedder.dimensions };

  const info = await deps.sink.inspect(target);
  checkTarget(info, target, deps.embedder.modelId);

  // Discovery is cheap (directory listings), and knowing the number of stores up front gives the progress bar its total.
  const stores: StoreLocation[] = [];
  const skippedReports: StoreReport[] = [];
  for await (const event of discoverStores(config.root, config.users === null ? {} : { users: config.users })) {
    if (event.kind === 'store') {
      stores.push(event.store);
      continue;
    }
    const rel = path.relative(config.root, event.path) || event.path;
    const [userPart = rel, collectionPart = '-'] = rel.split(path.sep);
    skippedReports.push({
      ...emptyStoreReport({ userId: userPart, collection: collectionPart.replace(/^vector_store_/, ''), dir: event.path, vectorsPath: null, metadataPath: null }, config.root),
      path: rel,
      status: 'skipped',
      warnings: [event.reason],
      error: { code: event.code, message: event.reason },
    });
  }

  observe({
    type: 'run-start',
    runId,
    dryRun: config.dryRun,
    root: config.root,
    table: config.table,
    model: deps.embedder.modelId,
    dimensions: target.dimensions,
    database: summarize(info),
    stores: stores.length,
    skipped: skippedReports.length,
  });
  for (const s of skippedReports) observe({ type: 'skipped', path: s.path, reason: s.warnings[0] ?? '' });

  if (!config.dryRun) await deps.sink.ensureSchema(target);

  const state: RunState = { config, deps, target, observe, keys: new Map(), sample: [], startedAt, embedMs: 0, loadMs: 0 };
  const storeReports: StoreReport[] = [];
  for (const [i, store] of stores.entries()) {
    observe({ type: 'store-start', userId: store.userId, collection: store.collection, position: i + 1, of: stores.length });
    const report = await processStore(state, store);
    storeReports.push(report);
    observe({ type: 'store-done', store: report });
  }

  const all = [...storeReports, ...skippedReports].sort((a, b) => a.path.localeCompare(b.path));
  const rowsPlanned = storeReports.reduce((n, s) => n + s.rowsPlanned, 0);
  const report: RunReport = {
    runId,
    dryRun: config.dryRun,
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    root: config.root,
    table: config.table,
    model: deps.embedder.modelId,
    dimensions: target.dimensions,
    database: summarize(info),
    stores: all,
    totals: {
      stores: all.length,
      ok: all.filter((s) => s.status === 'ok').length,
      failed: all.filter((s) => s.status === 'failed').length,
      skipped: all.filter((s) => s.status === 'skipped').length,
      rowsLoaded: storeReports.reduce((n, s) => n + s.rowsLoaded, 0),
      rowsPlanned,
      rowsSkipped: storeReports.reduce((n, s) => n + s.rowsSkipped, 0),
      embedded: config.dryRun ? 0 : storeReports.reduce((n, s) => n + s.rowsLoaded, 0),
      embedMs: Math.round(state.embedMs),
      loadMs: Math.round(state.loadMs),
    },
    estimate: config.dryRun ? await estimate(state, rowsPlanned) : null,
  };
  report.finishedAt = now().toISOString();
  observe({ type: 'run-done', report });
  return report;
}

/** Opens the database and the embedding model from the configuration, runs, and closes both. */
export function migrate(config: MigrateConfig, observe?: RunObserver): Promise<RunReport> {
  return withSinkAndEmbedder(config.database, config.model, { readOnly: config.dryRun }, (sink, embedder) => runMigration(config, { embedder, sink }, observe));
}
