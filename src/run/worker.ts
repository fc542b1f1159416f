/**
 * `worker`: one process of many sharing the queued work. It opens the database once, loads each
 * model a job names once, and runs the handlers of every job kind until drained or signalled.
 */
import os from 'node:os';
import type { EmbeddingDtype, WorkerConfig } from '../config.js';
import { openQueue, queueUrl } from '../queue/engine.js';
import type { JobModel } from '../queue/jobs.js';
import { runWorker, type WorkerEvent, type WorkerReport } from '../queue/worker.js';
import { createEmbedder, type Embedder } from '../transform/embedder.js';
import { storeHandlers } from './migrateQueue.js';
import { reembedHandlers } from './reembedQueue.js';
import { withSink } from './resources.js';

/** application_name of a worker's queue connections: status counts live workers by this prefix. */
export const WORKER_APPLICATION = 'pgvector-migrate worker';

export async function work(config: WorkerConfig, observe: (event: WorkerEvent) => void, signal?: AbortSignal): Promise<WorkerReport> {
  const url = queueUrl(config.database, 'worker');
  return withSink(config.database, { readOnly: false, purpose: 'worker' }, async (sink) => {
    const embedders = new Map<string, Promise<Embedder>>();
    // One embedder per model file: the same model id under two dtypes is two files.
    const embedder = (model: JobModel): Promise<Embedder> => {
      const key = `${model.dtype ?? ''}\u0000${model.id}`;
      let loading = embedders.get(key);
      if (loading === undefined) {
        loading = createEmbedder({
          model: model.id,
          ...(model.dtype === null ? {} : { dtype: model.dtype as EmbeddingDtype }),
          allowRemoteModels: config.allowRemoteModels,
          ...(config.modelCacheDir === null ? {} : { cacheDir: config.modelCacheDir }),
          ...(config.threads === null ? {} : { threads: config.threads }),
        });
        // A model that failed to load is tried again by the next job, not cached as a failure.
        loading.catch(() => embedders.delete(key));
        embedders.set(key, loading);
      }
      return loading;
    };
    const boss = await openQueue(
      url,
      { applicationName: `${WORKER_APPLICATION} ${os.hostname()} ${process.pid}`, supervise: true, maxConnections: config.concurrency + 3 },
      // pg-boss's own failures (a lost connection while polling) are reported; it retries them itself.
      (err) => observe({ type: 'queue-error', message: err.message }),
    );
    try {
      const handlers = [...storeHandlers(config, { sink, embedder }, boss), ...reembedHandlers(config, { sink, embedder }, boss)];
      return await runWorker(boss, handlers, { drain: config.drain, observe, ...(signal === undefined ? {} : { signal }) });
    } finally {
      await boss.stop({ graceful: false, wait: true });
      for (const loading of embedders.values()) await (await loading.catch(() => null))?.dispose();
    }
  });
}
