/**
 * `reembed --enqueue` and the jobs it fans out: the side table, the reduction and the job record
 * are made once (prepareReembed), then one pg-boss job per page of rows (by id) is enqueued. A
 * page job writes its rows into the side table as `reembed` does (rows already written are not
 * pending, so a retried page redoes only what was lost). The worker that finds no row left enqueues
 * the swap job, whose id is fixed per re-embedding: however many workers finish at once, the
 * swap runs once. `reembed --swap` does the same by hand.
 */
import type PgBoss from 'pg-boss';
import type { EmbeddingDtype, ReembedConfig, WorkerConfig } from '../config.js';
import { MigrateError } from '../errors.js';
import { DEFAULT_QUEUE_POLICY, ensureQueue, jobOptions, openQueue, queueUrl, type QueuePolicy } from '../queue/engine.js';
import { QUEUES, reembedPageId, reembedSwapId, type JobModel, type ReembedJobData, type ReembedPageData } from '../queue/jobs.js';
import type { JobHandler } from '../queue/worker.js';
import type { ReembedPendingRow, Sink } from '../sink/types.js';
import type { Embedder } from '../transform/embedder.js';
import { windowSize } from '../transform/rows.js';
import { embedPending, prepareReembed, runReembed, type PassProgress, type ReembedObserver } from './reembed.js';
import { withEmbedder, withSink } from './resources.js';

export interface ReembedEnqueueReport {
  table: string;
  sideTable: string;
  jobId: string;
  model: string;
  /** Rows still to embed when the pages were cut. */
  rows: number;
  /** Page jobs offered to the queue (those already there from an earlier --enqueue are kept as they are). */
  pages: number;
  pageRows: number;
  /** True when no row was pending: the swap job was enqueued at once. */
  swapEnqueued: boolean;
}

/** Jobs inserted per statement: pg-boss sends them as one JSON array. */
const INSERT_CHUNK = 1000;

export async function enqueueReembed(config: ReembedConfig, observe: ReembedObserver): Promise<ReembedEnqueueReport> {
  const url = queueUrl(config.database, 'reembed --enqueue');
  if (config.users !== null) throw new MigrateError('E_USAGE', '--enqueue re-embeds the whole table; --users is for one process doing part of it');
  return withSink(config.database, { readOnly: false, purpose: 'reembed --enqueue' }, (sink) =>
    withEmbedder(config.model, async (embedder) => {
      const { r, job, vectorizer } = await prepareReembed(config, { sink, embedder, observe });
      const pageRows = config.pageRows ?? windowSize(vectorizer, config.batchSize);
      const data: ReembedJobData = {
        table: config.table,
        reembedJobId: job.id,
        model: config.model.id,
        dtype: config.model.dtype ?? null,
        batchSize: config.batchSize,
        reduce: config.reduction.mode,
        dimensions: config.reduction.dimensions,
        pcaSample: config.reduction.pcaSample,
      };
      // Cut the pending rows into pages by id; the last page is open-ended, so rows inserted
      // above the last id while the job runs belong to it.
      const pages: ReembedPageData[] = [];
      let afterId: string | null = null;
      let rows = 0;
      for (;;) {
        const page: ReembedPendingRow[] = await r.pending(job, { afterId, limit: pageRows });
        if (page.length === 0) break;
        rows += page.length;
        const last = (page[page.length - 1] as ReembedPendingRow).id;
        pages.push({ ...data, afterId, untilId: page.length < pageRows ? null : last });
        afterId = last;
      }
      const lastPage = pages[pages.length - 1];
      if (lastPage !== undefined) lastPage.untilId = null;

      const boss = await openQueue(url, { applicationName: 'pgvector-migrate enqueue', supervise: false }, () => undefined);
      try {
        await ensureQueue(boss, QUEUES.reembedPage);
        await ensureQueue(boss, QUEUES.reembedSwap);
        for (let i = 0; i < pages.length; i += INSERT_CHUNK) {
          await boss.insert(pages.slice(i, i + INSERT_CHUNK).map((p) => ({ id: reembedPageId(p), name: QUEUES.reembedPage, data: p, ...jobOptions(config.queue) })));
        }
        if (pages.length === 0) await enqueueSwap(boss, data, config.queue);
      } finally {
        await boss.stop({ graceful: false, wait: true });
      }
      return { table: config.table, sideTable: r.sideTable, jobId: job.id, model: job.model, rows, pages: pages.length, pageRows, swapEnqueued: pages.length === 0 };
    }),
  );
}

async function enqueueSwap(boss: PgBoss, data: ReembedJobData, policy: QueuePolicy): Promise<void> {
  const swap: ReembedJobData = {
    table: data.table,
    reembedJobId: data.reembedJobId,
    model: data.model,
    dtype: data.dtype,
    batchSize: data.batchSize,
    reduce: data.reduce,
    dimensions: data.dimensions,
    pcaSample: data.pcaSample,
  };
  // The swap builds the HNSW index and checks every store: give it far more time than a page.
  await boss.insert([{ id: reembedSwapId(swap), name: QUEUES.reembedSwap, data: swap, ...jobOptions({ ...policy, expireSeconds: policy.expireSeconds * 30 }) }]);
}

/** What the handlers share in one worker process: its database and one embedder per model. */
export interface WorkerResources {
  sink: Sink;
  embedder(model: JobModel): Promise<Embedder>;
}

/** The re-embedding settings of a job as this worker runs it (its own database, cache and policy). */
function configOf(data: ReembedJobData, worker: WorkerConfig): ReembedConfig {
  return {
    action: 'run',
    database: worker.database,
    model: { id: data.model, cacheDir: worker.modelCacheDir, allowRemoteModels: worker.allowRemoteModels, ...(data.dtype === null ? {} : { dtype: data.dtype as EmbeddingDtype }) },
    table: data.table,
    users: null,
    batchSize: data.batchSize,
    reduction: { mode: data.reduce as ReembedConfig['reduction']['mode'], dimensions: data.dimensions, pcaSample: data.pcaSample, pcaSeed: 20000 },
    swap: true,
    noWait: false,
    reportPath: null,
    requireJob: data.reembedJobId,
    // Used only if a page job has to enqueue the swap; the enqueuer's policy is in the page job itself.
    queue: DEFAULT_QUEUE_POLICY,
    pageRows: null,
  };
}


const SILENT: ReembedObserver = () => undefined;
const NO_PROGRESS: PassProgress = { embedded: () => undefined, written: () => undefined };

export function reembedHandlers(worker: WorkerConfig, resources: WorkerResources, boss: PgBoss): JobHandler[] {
  return [
    {
      queue: QUEUES.reembedPage,
      concurrency: worker.concurrency,
      async run(raw, pgJob) {
        const data = raw as ReembedPageData;
        const config = configOf(data, worker);
        const embedder = await resources.embedder({ id: data.model, dtype: data.dtype });
        const { r, job, vectorizer } = await prepareReembed(config, { sink: resources.sink, embedder, observe: SILENT });
        await embedPending(r, job, vectorizer, config, NO_PROGRESS, { afterId: data.afterId, untilId: data.untilId });
        // The last page to finish sees no row left (or no other page left) and enqueues the swap;
        // two at once insert the same job id, which pg-boss keeps once.
        const { total, done } = await r.counts(job, null);
        const pagesLeft = await boss.getQueueSize(QUEUES.reembedPage, { before: 'completed' });
        if (done >= total || pagesLeft <= 1) await enqueueSwap(boss, data, { ...DEFAULT_QUEUE_POLICY, expireSeconds: pgJob.expireInSeconds });
      },
    },
    {
      queue: QUEUES.reembedSwap,
      concurrency: 1,
      async run(raw) {
        const data = raw as ReembedJobData;
        const current = await resources.sink.reembedding({ table: data.table }).current();
        // Swapped (or aborted) already, by an earlier attempt or by hand: nothing left to do.
        if (current?.id !== data.reembedJobId) return;
        await runReembed(configOf(data, worker), { sink: resources.sink, embedder: await resources.embedder({ id: data.model, dtype: data.dtype }), observe: SILENT });
      },
    },
  ];
}

/** `reembed --swap`: finish a queued re-embedding by hand (embeds what is left, then swaps). */
export async function finishReembed(config: ReembedConfig, observe: ReembedObserver): ReturnType<typeof runReembed> {
  return withSink(config.database, { readOnly: false, purpose: 'reembed --swap' }, async (sink) => {
    const current = await sink.reembedding({ table: config.table }).current();
    if (current === null) throw new MigrateError('E_REEMBED', `${config.table} has no running re-embedding to swap in; start one with reembed --enqueue (or reembed)`);
    return withEmbedder(config.model, (embedder) => runReembed({ ...config, requireJob: current.id }, { sink, embedder, observe }));
  });
}
