/**
 * The queue's side of `status`: jobs done out of all for the table, failed ones, the rate and the
 * time left, and the workers connected now. `watchQueue` samples it until no job is left.
 */
import type { DatabaseConfig } from '../config.js';
import { MigrateError } from '../errors.js';
import { QUEUE_SCHEMA, queueUrl } from '../queue/engine.js';
import { readQueueProgress, type QueueProgress } from '../queue/progress.js';
import { WORKER_APPLICATION } from './worker.js';

export interface QueueSample extends QueueProgress {
  /** Jobs finished (done or failed) per second since the watch began. */
  jobsPerSecond: number;
  etaSeconds: number | null;
}

/**
 * Null on PGlite (no queue there) or when no job was ever queued in the database; 'unreadable' when
 * another role installed the queue and this one may not read it: `status` still reports the ledger.
 */
export async function queueStatus(database: DatabaseConfig, table: string): Promise<QueueProgress | null | 'unreadable'> {
  if (database.url === null) return null;
  return readQueueProgress(database.url.reveal(), table, WORKER_APPLICATION);
}

/** What `status` says when the queue exists but this role cannot read it. */
export const UNREADABLE_QUEUE_NOTE = `the job queue (schema ${QUEUE_SCHEMA}) exists but this role cannot read it: queued work is not shown`;

function unreadable(): MigrateError {
  return new MigrateError(
    'E_CONFIG',
    `the job queue (schema ${QUEUE_SCHEMA}) was installed by another role and this one cannot read it: GRANT USAGE ON SCHEMA ${QUEUE_SCHEMA} and SELECT ON ${QUEUE_SCHEMA}.job to it, or watch as the role that enqueued`,
  );
}

/**
 * Samples the table's jobs every `intervalMs` until none is queued, retrying or running (or the
 * signal aborts), and returns the last sample. It only reads, so any number can watch.
 */
export async function watchQueue(database: DatabaseConfig, table: string, options: { intervalMs: number; signal?: AbortSignal }, onSample: (s: QueueSample) => void): Promise<QueueSample | null> {
  const url = queueUrl(database, 'status --watch');
  const started = performance.now();
  let first: QueueProgress | null = null;
  let last: QueueSample | null = null;
  for (;;) {
    const p = await readQueueProgress(url, table, WORKER_APPLICATION);
    if (p === null) return null;
    if (p === 'unreadable') throw unreadable();
    first ??= p;
    const seconds = Math.max((performance.now() - started) / 1000, 1e-3);
    const finished = p.done + p.failed - (first.done + first.failed);
    const rate = finished / seconds;
    last = { ...p, jobsPerSecond: rate, etaSeconds: rate > 0 ? p.left / rate : null };
    onSample(last);
    if (p.left === 0 || options.signal?.aborted === true) return last;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.intervalMs);
      options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
}

/** One line of the TTY view: a bar of done out of all, then rate, time left and workers. */
export function queueBar(s: QueueSample, width = 30): string {
  const fraction = s.total === 0 ? 1 : (s.done + s.failed) / s.total;
  const filled = Math.round(fraction * width);
  const eta = s.etaSeconds === null ? '?' : `${Math.round(s.etaSeconds)}s`;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${s.done}/${s.total} jobs done${s.failed > 0 ? `, ${s.failed} failed` : ''}  ${s.jobsPerSecond.toFixed(2)} jobs/s  ETA ${eta}  ${s.workers.length} worker(s)`;
}
