/**
 * The job queue is pg-boss (10.x, the last major that runs on Node 20), installed in its own
 * schema of the target database: no other infrastructure, and the queue's rows live next to the
 * ledger they describe. Why pg-boss rather than graphile-worker 0.16: a killed worker's job comes
 * back after its own expiry (seconds to minutes, per job), where graphile-worker 0.16 waits for a
 * locked_at older than a fixed 4 hours; BENCHMARKS.md has the measured figures.
 */
import PgBoss from 'pg-boss';
import type { DatabaseConfig } from '../config.js';
import { MigrateError } from '../errors.js';

/** The schema pg-boss creates and migrates; nothing of the tool's own goes there. */
export const QUEUE_SCHEMA = 'pgvector_migrate_queue';

/** How jobs are retried and when a worker that went silent loses its job. */
export interface QueuePolicy {
  /** Seconds a job may stay active before it is failed (and retried) as abandoned. */
  expireSeconds: number;
  /** Attempts of a job in all (the first one included) before it ends `failed`. */
  attempts: number;
  /** Base delay of the exponential backoff between attempts, in seconds. */
  retryDelaySeconds: number;
}

/** How often abandoned jobs are looked for; one cheap query per interval for the whole cluster. */
export const SWEEP_SECONDS = 5;

/** How often an idle worker asks pg-boss for a job. */
export const POLL_SECONDS = 2;

/**
 * The longest a killed worker's job waits before another worker starts it: its expiry, then the
 * sweep that notices it, then the first retry's delay (pg-boss's backoff draws it from
 * [d, 2d] for base delay d), then one idle worker's poll.
 */
export function takeoverSeconds(policy: QueuePolicy): number {
  return policy.expireSeconds + SWEEP_SECONDS + 2 * policy.retryDelaySeconds + POLL_SECONDS;
}

// 100 s of expiry keeps the default takeover within 2 minutes (100 + 5 + 10 + 2 = 117 s).
export const DEFAULT_QUEUE_POLICY: QueuePolicy = { expireSeconds: 100, attempts: 3, retryDelaySeconds: 5 };

/** The queue's connection to a PostgreSQL server; PGlite is one process and has no use for one. */
export function queueUrl(database: DatabaseConfig, command: string): string {
  if (database.url === null) {
    throw new MigrateError(
      'E_UNSUPPORTED',
      `${command} needs a PostgreSQL server that every worker reaches: the embedded PGlite database (${database.pgliteDir}) is one process's file. Give --database-url (or $DATABASE_URL), or run the command without --enqueue`,
    );
  }
  return database.url.reveal();
}

export interface OpenQueueOptions {
  /** Shown in pg_stat_activity: status counts the connections of live workers by it. */
  applicationName: string;
  /** Workers supervise (expire abandoned jobs); a process that only enqueues or reads does not. */
  supervise: boolean;
  /** Connections of the queue's own pool. */
  maxConnections?: number;
}

/** Starts pg-boss on the database (creating or migrating its schema) with the tool's queues. */
export async function openQueue(url: string, options: OpenQueueOptions, onError: (err: Error) => void): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: url,
    schema: QUEUE_SCHEMA,
    application_name: options.applicationName,
    max: options.maxConnections ?? 4,
    supervise: options.supervise,
    schedule: false,
    // The supervisor's expiry sweep (one process of the cluster at a time) runs this often, so a
    // dead worker's job is back within its expireSeconds plus this.
    maintenanceIntervalSeconds: SWEEP_SECONDS,
  });
  boss.on('error', onError);
  try {
    await boss.start();
  } catch (err) {
    throw new MigrateError('E_CONNECT', `starting the job queue (pg-boss, schema ${QUEUE_SCHEMA}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return boss;
}

/** Creates the queue of a job kind (idempotent: pg-boss inserts it ON CONFLICT DO NOTHING). */
export async function ensureQueue(boss: PgBoss, name: string): Promise<void> {
  await boss.createQueue(name);
}

/** pg-boss's per-job retry and expiry options for a policy. */
export function jobOptions(policy: QueuePolicy): { retryLimit: number; retryDelay: number; retryBackoff: boolean; expireInSeconds: number } {
  return { retryLimit: policy.attempts - 1, retryDelay: policy.retryDelaySeconds, retryBackoff: true, expireInSeconds: policy.expireSeconds };
}
