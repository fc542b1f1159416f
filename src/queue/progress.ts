/**
 * What the queue says about the work: jobs per kind and state, and the workers connected now.
 * Read with a plain connection, so `status` never installs the queue's schema.
 */
import pg from 'pg';
import { quoteIdent } from '../sink/identifiers.js';
import { sqlFile } from '../sink/sqlFiles.js';
import { QUEUE_SCHEMA } from './engine.js';

export interface QueueProgress {
  /** Jobs per queue name and state (created, retry, active, completed, cancelled, failed). */
  queues: Record<string, Record<string, number>>;
  done: number;
  failed: number;
  /** Jobs queued, waiting for a retry, or running. */
  left: number;
  total: number;
  /** application_name of each live worker (host and pid). */
  workers: string[];
}

/**
 * The queue's jobs for `table`: null when the queue was never installed in this database, 'unreadable'
 * when it was (by another role) and this role has no USAGE on its schema.
 */
export async function readQueueProgress(url: string, table: string, workerPrefix: string): Promise<QueueProgress | null | 'unreadable'> {
  const client = new pg.Client({ connectionString: url, application_name: 'pgvector-migrate status' });
  await client.connect();
  try {
    const { rows: installed } = await client.query<{ installed: boolean; usable: boolean }>(sqlFile('queries/queue_installed.sql'), [QUEUE_SCHEMA]);
    if (installed[0]?.installed !== true) return null;
    if (installed[0].usable !== true) return 'unreadable';
    const { rows } = await client.query<{ name: string; state: string; jobs: number }>(sqlFile('queries/queue_progress.sql', { schema: quoteIdent(QUEUE_SCHEMA) }), [table]);
    const { rows: workers } = await client.query<{ name: string }>(sqlFile('queries/queue_workers.sql'), [`${workerPrefix}%`]);
    const queues: Record<string, Record<string, number>> = {};
    let done = 0;
    let failed = 0;
    let left = 0;
    for (const r of rows) {
      const q = (queues[r.name] ??= {});
      q[r.state] = (q[r.state] ?? 0) + r.jobs;
      if (r.state === 'completed' || r.state === 'cancelled') done += r.jobs;
      else if (r.state === 'failed') failed += r.jobs;
      else left += r.jobs;
    }
    return { queues, done, failed, left, total: done + failed + left, workers: workers.map((w) => w.name) };
  } finally {
    await client.end();
  }
}
