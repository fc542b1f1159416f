/**
 * Real `worker --drain --json` processes against TEST_DATABASE_URL, for the queue's end-to-end
 * tests: a test kills one at a known event and reads what the others did.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { CLI, REPO, TEST_DATABASE_URL } from './cli.js';
import { onJsonLines } from './jsonLines.js';

export const QUEUE_SCHEMA = 'pgvector_migrate_queue';

export interface Worker {
  child: ChildProcess;
  events: Record<string, unknown>[];
  exited: Promise<number | null>;
}

/**
 * `env` adds to the test's environment; DATABASE_URL (and PGVECTOR_MIGRATE_FROM_DATABASE) are
 * removed so only the flags count. `args` adds flags (e.g. --from-database URL).
 */
export function startWorker(env: NodeJS.ProcessEnv = {}, args: readonly string[] = []): Worker {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PGVECTOR_MIGRATE_FROM_DATABASE: undefined, ...env };
  delete childEnv.DATABASE_URL;
  if (childEnv.PGVECTOR_MIGRATE_FROM_DATABASE === undefined) delete childEnv.PGVECTOR_MIGRATE_FROM_DATABASE;
  const child = spawn(process.execPath, [CLI, 'worker', '--database-url', TEST_DATABASE_URL, '--drain', '--json', ...args], { cwd: REPO, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  if (child.stdout !== null) onJsonLines(child.stdout, (e) => events.push(e));
  child.stderr?.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, events, exited };
}

/** Resolves once `worker` has an event matching `match` (the worker's own pace, no fixed sleep). */
export async function eventOf(worker: Worker, match: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (;;) {
    const found = worker.events.find(match);
    if (found !== undefined) return found;
    const ended = await Promise.race([worker.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 100))]);
    if (ended) {
      const late = worker.events.find(match);
      if (late !== undefined) return late;
      throw new Error(`worker exited without the awaited event; events: ${JSON.stringify(worker.events.slice(-3))}`);
    }
  }
}

/** One statement on a connection of its own. */
export async function query<R>(sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as R[];
  } finally {
    await client.end();
  }
}

/** The queue's jobs counted by name and state. */
export async function queueJobs(): Promise<{ name: string; state: string; n: number }[]> {
  return query(`SELECT name, state::text AS state, count(*)::int AS n FROM ${QUEUE_SCHEMA}.job GROUP BY 1, 2 ORDER BY 1, 2`);
}

/**
 * Waits until no worker's connection is left in pg_stat_activity. A worker that exited has closed
 * its sockets, but its server backends leave the view a moment later, asynchronously: a check of
 * "no live worker" right after exit would race them.
 */
export async function workersGone(timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'pgvector-migrate worker%' AND datname = current_database()`);
    if (row?.n === 0) return;
    if (Date.now() > deadline) throw new Error(`${row?.n} worker connection(s) still open ${timeoutMs} ms after every worker exited`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
