/**
 * `migrate <root> --enqueue` and its store jobs. What must happen once is done here (discover,
 * validate, the table, the PCA fit or reuse, the ledger run); then one pg-boss job per store is
 * enqueued. A job carries what names the work (the root or the source table, the store, the run,
 * the settings), never a key or a database URL: each worker plans that one store again from its
 * own configuration (queuedTableSource.ts: a table through its own connection) and runs
 * executeStore, today's per-store transaction, so a retried job never duplicates a row.
 * The job that finds no other store job left enqueues the run's finish job (fixed id: once),
 * which builds the deferred index and closes the ledger run.
 */
import type PgBoss from 'pg-boss';
import type { EmbeddingDtype, MigrateConfig, WorkerConfig } from '../config.js';
import { DEFAULTS, sourceConfig } from '../config.js';
import { MigrateError } from '../errors.js';
import { ensureQueue, jobOptions, openQueue, QUEUE_SCHEMA, queueUrl, type QueuePolicy } from '../queue/engine.js';
import { jobId, QUEUES, type JobModel } from '../queue/jobs.js';
import type { JobHandler, JobInfo } from '../queue/worker.js';
import { quoteIdent } from '../sink/identifiers.js';
import { sqlFile } from '../sink/sqlFiles.js';
import type { Sink, TargetSpec } from '../sink/types.js';
import type { SourceConfig } from '../source/discoverSource.js';
import type { TableReader } from '../source/tableTypes.js';
import type { Embedder } from '../transform/embedder.js';
import { serializeSpace } from '../transform/embeddingSpace.js';
import type { RunObserver } from './events.js';
import { executeStore } from './executeStore.js';
import { storeLabel } from '../storeLabel.js';
import { planMigration, type MigrationPlan } from './plan.js';
import { projectedWith, type RunVectors } from './reductionStep.js';
import { queuedTableSource, workerTableSource, type QueuedTableSource } from './queuedTableSource.js';
import { withEmbedder, withSink, withTableReader } from './resources.js';
import { openRun, recorder } from './runLedger.js';

/** The settings of a queued migration, as every worker rebuilds its configuration from them (JSON: no Secret, no class). */
export interface MigrateJobSettings
  extends Pick<MigrateConfig, 'root' | 'table' | 'embeddings' | 'keptLabel' | 'batchSize' | 'backupDir' | 'force' | 'noWait' | 'keepPreviousDays' | 'partitions' | 'rls' | 'ownerInMetadata'> {
  runId: string;
  model: string;
  reduce: string;
  dimensions: number | null;
  pcaSample: number;
  /** The enqueuing run's --dtype (null: the default); a worker embeds with the same file. */
  dtype: string | null;
  /** How the enqueuing run found the stores (--source, --user, --layout): each worker discovers its store the same way. */
  source: { format: SourceConfig['format']; owner: string | null; layout: string | null };
  /** --from-table as names only (no URL): each worker reads the table through its own connection. */
  tableSource: QueuedTableSource | null;
}

export interface StoreJobData extends MigrateJobSettings {
  userId: string;
  collection: string;
}

export interface FinishJobData {
  runId: string;
  target: TargetSpec;
  deferIndex: boolean;
  /** Stores the run enqueued; the finish job closes the ledger run with their outcomes. */
  stores: number;
}

export interface MigrateEnqueueReport {
  runId: string | null;
  table: string;
  stores: number;
  /** Store jobs new to the queue (0: the same plan was enqueued already; no run was started). */
  enqueued: number;
  failedValidation: number;
}

/** `policy`: retries and expiry of the store jobs (config.ts queuePolicy: --job-timeout, --attempts). */
export async function enqueueMigration(config: MigrateConfig, policy: QueuePolicy, observe: RunObserver): Promise<MigrateEnqueueReport> {
  const url = queueUrl(config.database, 'migrate --enqueue');
  if (config.dryRun) throw new MigrateError('E_USAGE', '--dry-run writes nothing and --enqueue queues work: give one of them');
  if (config.reduction.refit) throw new MigrateError('E_UNSUPPORTED', '--refit-pca rewrites every store in one transaction, which cannot be shared by workers; run it without --enqueue');
  // The source table is opened (and its mapping checked) before the target, as migrate does.
  return withTableReader(config.tableSource, { withVectors: config.embeddings === 'keep', targetTable: config.table }, (table) => {
    const run = (sink: Sink, embedder: Embedder | null) => enqueueWith(config, policy, url, { sink, embedder, table }, observe);
    return withSink(config.database, { readOnly: false, purpose: 'migrate --enqueue' }, (sink) =>
      config.embeddings === 'keep' ? run(sink, null) : withEmbedder(config.model, (embedder) => run(sink, embedder)),
    );
  });
}

async function enqueueWith(config: MigrateConfig, policy: QueuePolicy, url: string, deps: { sink: Sink; embedder: Embedder | null; table: TableReader | null }, observe: RunObserver): Promise<MigrateEnqueueReport> {
  const { sink } = deps;
  const plan = await planMigration(config, { ...deps, observe });
  try {
    if (plan.pca.kind === 'refit') throw new MigrateError('E_UNSUPPORTED', 'this run would refit PCA in one transaction; run it without --enqueue');
    const settings = settingsOf(plan);
    // The job of a store is keyed by what it loads: the same sources with the same vectors.
    const space = serializeSpace(plan.space);
    const jobs = plan.stores.map((s) => {
      const data: StoreJobData = { ...settings, userId: s.store.userId, collection: s.store.collection };
      return { id: jobId('store', config.table, s.store.userId, s.store.collection, s.report.sourceSha256 ?? null, space, config.force ? settings.runId : null), data };
    });
    const boss = await openQueue(url, { applicationName: 'pgvector-migrate enqueue', supervise: false }, () => undefined);
    try {
      await ensureQueue(boss, QUEUES.store);
      await ensureQueue(boss, QUEUES.migrateFinish);
      const existing = await existingIds(boss, QUEUES.store, jobs.map((j) => j.id));
      const fresh = jobs.filter((j) => !existing.has(j.id));
      if (fresh.length === 0 && jobs.length > 0) return { runId: null, table: config.table, stores: plan.stores.length, enqueued: 0, failedValidation: plan.failed.length };
      await openRun(plan, sink, { schemaReady: false, runStarted: false });
      if (plan.pca.kind === 'save') await sink.pcaModels.save(plan.pca.pending);
      for (let i = 0; i < fresh.length; i += 1000) {
        await boss.insert(fresh.slice(i, i + 1000).map((j) => ({ id: j.id, name: QUEUES.store, data: j.data, ...jobOptions(policy) })));
      }
      const finish: FinishJobData = { runId: plan.runId, target: plan.target, deferIndex: plan.deferIndex, stores: fresh.length };
      if (fresh.length === 0) await enqueueFinish(boss, finish, policy);
      return { runId: plan.runId, table: config.table, stores: plan.stores.length, enqueued: fresh.length, failedValidation: plan.failed.length };
    } finally {
      await boss.stop({ graceful: false, wait: true });
    }
  } finally {
    if (plan.pca.kind !== 'none') await plan.pca.projector.dispose();
  }
}

function settingsOf(plan: MigrationPlan): MigrateJobSettings {
  const c = plan.config;
  return {
    runId: plan.runId,
    root: c.root,
    table: c.table,
    model: c.model.id,
    embeddings: c.embeddings,
    keptLabel: c.keptLabel,
    batchSize: c.batchSize,
    reduce: c.reduction.mode,
    dimensions: c.reduction.dimensions,
    pcaSample: c.reduction.pcaSample,
    backupDir: c.backupDir,
    force: c.force,
    noWait: c.noWait,
    keepPreviousDays: c.keepPreviousDays,
    partitions: c.partitions,
    rls: c.rls,
    ownerInMetadata: c.ownerInMetadata,
    dtype: c.model.dtype ?? null,
    source: { format: c.source.format, owner: c.source.owner, layout: c.source.layout?.pattern ?? null },
    tableSource: c.tableSource === null ? null : queuedTableSource(c.tableSource),
  };
}

async function existingIds(boss: PgBoss, queue: string, ids: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < ids.length; i += 10_000) {
    const { rows } = await boss.getDb().executeSql(sqlFile('queries/queue_jobs_existing.sql', { schema: quoteIdent(QUEUE_SCHEMA) }), [queue, ids.slice(i, i + 10_000)]);
    for (const r of rows as { id: string }[]) found.add(r.id);
  }
  return found;
}

async function enqueueFinish(boss: PgBoss, data: FinishJobData, policy: QueuePolicy): Promise<void> {
  // The deferred HNSW build of a large table takes far longer than one store.
  await boss.insert([{ id: jobId('migrate-finish', data.runId), name: QUEUES.migrateFinish, data, ...jobOptions({ ...policy, expireSeconds: policy.expireSeconds * 30 }) }]);
}

/** The store's configuration on this worker: the job's settings, this machine's database and keys. */
function configOf(data: StoreJobData, worker: WorkerConfig): MigrateConfig {
  return {
    root: data.root,
    dryRun: false,
    database: worker.database,
    masterKeys: worker.masterKeys,
    tryDefaultKey: worker.tryDefaultKey,
    model: { id: data.model, cacheDir: worker.modelCacheDir, allowRemoteModels: worker.allowRemoteModels, ...(data.dtype === null ? {} : { dtype: data.dtype as EmbeddingDtype }) },
    batchSize: data.batchSize,
    users: [data.userId],
    table: data.table,
    backupDir: data.backupDir,
    reportPath: null,
    dryRunSampleSize: DEFAULTS.dryRunSampleSize,
    embeddings: data.embeddings,
    keptLabel: data.keptLabel,
    reduction: { mode: data.reduce as MigrateConfig['reduction']['mode'], dimensions: data.dimensions, pcaSample: data.pcaSample, pcaSeed: DEFAULTS.pcaSeed, refit: false },
    collections: [data.collection],
    retryFailed: false,
    force: data.force,
    noWait: data.noWait,
    keepPreviousDays: data.keepPreviousDays,
    partitions: data.partitions,
    rls: data.rls,
    ownerInMetadata: data.ownerInMetadata,
    source: sourceConfig({ source: data.source.format, ...(data.source.owner === null ? {} : { owner: data.source.owner }), ...(data.source.layout === null ? {} : { layout: data.source.layout }) }),
    // A job queued before table sources has no such field: it is a directory job.
    tableSource: data.tableSource === null || data.tableSource === undefined ? null : workerTableSource(data.tableSource, worker),
  };
}

export interface StoreWorkerResources {
  sink: Sink;
  embedder(model: JobModel): Promise<Embedder>;
}

export function storeHandlers(worker: WorkerConfig, resources: StoreWorkerResources, boss: PgBoss): JobHandler[] {
  return [
    {
      queue: QUEUES.store,
      concurrency: worker.concurrency,
      async run(raw, pgJob) {
        const data = raw as StoreJobData;
        const config = configOf(data, worker);
        const embedder = config.embeddings === 'keep' ? null : await resources.embedder({ id: data.model, dtype: data.dtype });
        // A table job reads its one store through a reader of its own, opened on this worker's connection.
        await withTableReader(config.tableSource, { withVectors: config.embeddings === 'keep', targetTable: config.table }, (table) => runStoreJob(data, config, { sink: resources.sink, embedder, table }, boss, pgJob));
      },
    },
    {
      queue: QUEUES.migrateFinish,
      concurrency: 1,
      async run(raw) {
        const data = raw as FinishJobData;
        if (data.deferIndex) await resources.sink.schema.buildSearchIndex(data.target, { concurrently: true });
        await resources.sink.schema.analyze(data.target);
        const outcomes = (await resources.sink.ledger.latestOutcomes({ table: data.target.table })).filter((o) => o.runId === data.runId);
        await resources.sink.ledger.finishRun(data.runId, outcomes.some((o) => o.status === 'failed') ? 'failed' : 'succeeded', data.target);
      },
    },
  ];
}

/** Plans the job's one store again on this worker and runs it in today's per-store transaction. */
async function runStoreJob(data: StoreJobData, config: MigrateConfig, deps: { sink: Sink; embedder: Embedder | null; table: TableReader | null }, boss: PgBoss, pgJob: JobInfo): Promise<void> {
  let retried = false;
  const planned = await planMigration(config, deps);
  // The records go under the run that --enqueue started.
  const plan: MigrationPlan = { ...planned, runId: data.runId };
  try {
    if (plan.pca.kind === 'save' || plan.pca.kind === 'refit') {
      throw new MigrateError('E_UNSUPPORTED', `the PCA model that migrate --enqueue saved for ${data.table} is gone; enqueue the migration again`);
    }
    const unprojected: RunVectors = { vectorizer: plan.vectorizer, space: plan.space };
    const vectors = plan.pca.kind === 'none' ? unprojected : projectedWith(unprojected, plan.pca.projector, plan.pca.record);
    const label = storeLabel(data);
    const record = recorder(plan, deps.sink, vectors.space);
    const gone = plan.failed.find((r) => storeLabel(r) === label);
    const store = plan.stores.find((s) => storeLabel(s.store) === label);
    const outcome = store === undefined ? null : await executeStore(plan, store, { loads: deps.sink.loads, ...vectors });
    const report = outcome?.report ?? gone;
    if (report === undefined) throw new MigrateError('E_MISSING_FILE', `store ${label} is no longer ${config.tableSource === null ? `under ${data.root}` : `in ${config.tableSource.table}`}`);
    await record(report);
    // A failed store is retried by the queue (with backoff); its latest outcome stays in the ledger.
    retried = report.status === 'failed' && !pgJob.lastAttempt;
    if (report.status === 'failed') throw new MigrateError(report.error?.code ?? 'E_LOAD', report.error?.message ?? `store ${label} failed`);
  } finally {
    if (plan.pca.kind !== 'none') await plan.pca.projector.dispose();
    // A store about to be retried is not the last; two last ones insert the same finish job once.
    if (!retried && (await isLastStoreJob(boss))) {
      await enqueueFinish(boss, { runId: data.runId, target: plan.target, deferIndex: plan.deferIndex, stores: 0 }, { expireSeconds: pgJob.expireInSeconds, attempts: 3, retryDelaySeconds: 5 });
    }
  }
}

/** No other store job of any run is queued or running: this one is the last. */
async function isLastStoreJob(boss: PgBoss): Promise<boolean> {
  return (await boss.getQueueSize(QUEUES.store, { before: 'completed' })) <= 1;
}
