/**
 * A worker process: pulls jobs from pg-boss and runs their handler. Retries, backoff, the final
 * `failed` state and the recovery of jobs whose worker died are pg-boss's (engine.ts); this
 * module only decides how many jobs run at once, when to stop, and what to tell the observer.
 */
import type PgBoss from 'pg-boss';
import { isMigrateError } from '../errors.js';
import type { QueueName } from './jobs.js';
import { POLL_SECONDS } from './engine.js';

export interface JobHandler {
  queue: QueueName;
  /** Jobs of this kind run at once in this process (the swap of a re-embedding: always 1). */
  concurrency: number;
  /** Throws to fail the attempt (pg-boss retries it, then marks it failed). */
  run(data: unknown, job: JobInfo): Promise<void>;
}

/** What a handler learns of its pg-boss job besides the data. */
export interface JobInfo {
  id: string;
  expireInSeconds: number;
  /** True on the last attempt pg-boss will make: a failure now is final. */
  lastAttempt: boolean;
}

export type WorkerEvent =
  | { type: 'worker-start'; queues: string[]; concurrency: number }
  | { type: 'job-start'; queue: string; jobId: string }
  | { type: 'job-done'; queue: string; jobId: string; ms: number }
  | { type: 'job-failed'; queue: string; jobId: string; ms: number; error: { code: string; message: string } }
  | { type: 'queue-error'; message: string }
  | { type: 'worker-stop'; reason: 'drained' | 'signal'; jobs: { done: number; failed: number } };

export interface WorkerOptions {
  /** Stop once nothing is queued or running in any of the handlers' queues. */
  drain: boolean;
  /** Aborting it stops fetching; jobs in hand finish first. */
  signal?: AbortSignal;
  observe: (event: WorkerEvent) => void;
  /** How often an idle worker asks for a job (pg-boss polls), and a draining one checks the queues. */
  pollSeconds?: number;
}

export interface WorkerReport {
  reason: 'drained' | 'signal';
  done: number;
  failed: number;
}

export async function runWorker(boss: PgBoss, handlers: readonly JobHandler[], options: WorkerOptions): Promise<WorkerReport> {
  const pollSeconds = options.pollSeconds ?? POLL_SECONDS;
  const counts = { done: 0, failed: 0 };
  let inFlight = 0;
  const idle: (() => void)[] = [];
  let stopping: ((reason: 'drained' | 'signal') => void) | undefined;
  const stopped = new Promise<'drained' | 'signal'>((resolve) => (stopping = resolve));

  const workIds: string[] = [];
  for (const handler of handlers) {
    for (let i = 0; i < handler.concurrency; i++) {
      let self: string | undefined;
      self = await boss.work(handler.queue, { batchSize: 1, pollingIntervalSeconds: pollSeconds, includeMetadata: true }, async (jobs) => {
        const started = performance.now();
        inFlight++;
        try {
          for (const job of jobs) {
            options.observe({ type: 'job-start', queue: handler.queue, jobId: job.id });
            try {
              await handler.run(job.data, { id: job.id, expireInSeconds: job.expireInSeconds, lastAttempt: job.retryCount >= job.retryLimit });
            } catch (err) {
              counts.failed++;
              const error = isMigrateError(err) ? err.toJSON() : { code: 'E_INTERNAL', message: err instanceof Error ? err.message : String(err) };
              options.observe({ type: 'job-failed', queue: handler.queue, jobId: job.id, ms: performance.now() - started, error });
              // Rethrown so pg-boss records the attempt as failed (and retries it).
              throw err;
            }
            counts.done++;
            options.observe({ type: 'job-done', queue: handler.queue, jobId: job.id, ms: performance.now() - started });
          }
        } finally {
          inFlight--;
          if (inFlight === 0) for (const resolve of idle.splice(0)) resolve();
          // pg-boss waits out its polling interval after every fetch, jobs found or not: 2 s
          // per job even for a store of one document. Notified, it fetches the next job at
          // once; an empty fetch still waits the interval, so an idle worker polls as before.
          if (self !== undefined) boss.notifyWorker(self);
        }
      });
      workIds.push(self);
    }
  }
  options.observe({ type: 'worker-start', queues: handlers.map((h) => h.queue), concurrency: Math.max(...handlers.map((h) => h.concurrency)) });

  const onAbort = () => stopping?.('signal');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted === true) onAbort();

  // --drain: pg-boss has no "queue empty" event, so the worker asks how many jobs are left
  // (created, retry or active anywhere, a dead worker's included: it comes back on expiry).
  const timer = options.drain
    ? setInterval(() => {
        void queuedOrActive(boss, handlers).then(
          (left) => {
            if (left === 0 && inFlight === 0) stopping?.('drained');
          },
          () => undefined,
        );
      }, pollSeconds * 1000)
    : undefined;

  const reason = await stopped;
  if (timer !== undefined) clearInterval(timer);
  options.signal?.removeEventListener('abort', onAbort);
  // Stop fetching, then let the jobs in hand finish.
  for (const id of workIds) await boss.offWork({ id });
  if (inFlight > 0) await new Promise<void>((resolve) => idle.push(resolve));
  options.observe({ type: 'worker-stop', reason, jobs: { ...counts } });
  return { reason, ...counts };
}

async function queuedOrActive(boss: PgBoss, handlers: readonly JobHandler[]): Promise<number> {
  let left = 0;
  for (const h of handlers) left += await boss.getQueueSize(h.queue, { before: 'completed' });
  return left;
}
