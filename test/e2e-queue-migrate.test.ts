/**
 * `migrate <root> --enqueue` shared by three real worker processes on PostgreSQL (issue 14): 30
 * stores written by Python, two workers SIGKILLed mid-store, a poison store that fails every
 * attempt. The table equals the source with no duplicate, every other store is `ok` in the
 * ledger, each killed job is finished by the surviving worker, the poison store ends `failed`
 * with its code, and a second --enqueue of the same plan adds no job.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTablesLike, REPO, runCli, TEST_DATABASE_URL, TINY_MODEL } from './helpers/cli.js';
import { eventOf, query, QUEUE_SCHEMA, queueJobs, startWorker, workersGone, type Worker } from './helpers/queueWorkers.js';

const MASTER_KEY = 'W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE=';
const ENTRIES = 8;
const STORES = Array.from({ length: 30 }, (_, n) => {
  const user = `u${String(n).padStart(2, '0')}`;
  return {
    user,
    collection: 'notes',
    master_key: MASTER_KEY,
    encrypt: true,
    dims: 6,
    entries: Array.from({ length: ENTRIES }, (_, i) => ({ id: `${user}-${i}`, text: `${user} note ${i}: queued by one, loaded by another`, timestamp: '2024-01-01' })),
  };
});
const POISON = 'u07';

describe('migrate --enqueue with 3 worker processes, 2 SIGKILLed (pg)', () => {
  let work: string;
  let root: string;
  const table = `qmig_${process.pid}`;
  const db = ['--database-url', TEST_DATABASE_URL, '--table', table];

  beforeAll(async () => {
    await query(`DROP SCHEMA IF EXISTS ${QUEUE_SCHEMA} CASCADE`);
    work = await mkdtemp(path.join(tmpdir(), 'pvm-queue-migrate-'));
    root = path.join(work, 'user_data');
    execFileSync('python3', [path.join(REPO, 'scripts/write_stores.py')], { input: JSON.stringify({ root, stores: STORES }) });
  });
  afterAll(async () => {
    await dropTablesLike(TEST_DATABASE_URL, table);
    await rm(work, { recursive: true, force: true });
  });

  it('loads every store once, finishes the killed jobs elsewhere, fails the poison store after its attempts', async () => {
    const enqueue = ['migrate', root, ...db, '--model', TINY_MODEL, '--no-backup', '--enqueue', '--job-timeout', '20', '--attempts', '2'];
    const first = await runCli(enqueue, { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(first.code, first.stderr).toBe(0);
    const enqueued = first.lines.find((l) => 'enqueued' in l)?.['enqueued'] as { runId: string; enqueued: number };
    expect(enqueued).toMatchObject({ stores: 30, enqueued: 30, failedValidation: 0 });
    const again = await runCli(enqueue, { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(again.lines.find((l) => 'enqueued' in l)?.['enqueued']).toMatchObject({ runId: null, enqueued: 0 });
    expect(await query(`SELECT count(*)::int AS n FROM ${QUEUE_SCHEMA}.job`)).toEqual([{ n: 30 }]);
    // The poison store changes after planning: every worker's attempt finds it broken.
    await writeFile(path.join(root, POISON, 'vector_store_notes', 'metadata.json'), '{"not": "a list"}');

    const workers = Array.from({ length: 3 }, () => startWorker({ ENCRYPTION_MASTER_KEY: MASTER_KEY }));
    const killed: string[] = [];
    for (const victim of workers.slice(0, 2)) {
      const started = await eventOf(victim, (e) => e['type'] === 'job-start' && e['queue'] === 'pgvector-migrate.store');
      victim.child.kill('SIGKILL');
      await victim.exited;
      if (!victim.events.some((e) => e['type'] === 'job-done' && e['jobId'] === started['jobId'])) killed.push(started['jobId'] as string);
    }
    const survivor = workers[2] as Worker;
    expect(await survivor.exited).toBe(0);
    for (const id of killed) expect(survivor.events.some((e) => e['type'] === 'job-done' && e['jobId'] === id)).toBe(true);

    const rows = await query<{ user_id: string; source_index: number; text: string }>(`SELECT user_id, source_index, text FROM "${table}" ORDER BY user_id, source_index`);
    const expected = STORES.filter((s) => s.user !== POISON).flatMap((s) => s.entries.map((e, i) => ({ user_id: s.user, source_index: i, text: e.text })));
    expect(rows).toEqual(expected);

    const status = await runCli(['status', ...db, '--json']);
    expect(status.code).toBe(1);
    const stores = (status.lines[0] as unknown as { stores: { userId: string; status: string; errorCode: string | null; runId: string }[] }).stores;
    expect(stores).toHaveLength(30);
    for (const s of stores) {
      expect(s.runId).toBe(enqueued.runId);
      expect([s.userId, s.status]).toEqual([s.userId, s.userId === POISON ? 'failed' : 'ok']);
    }
    expect(stores.find((s) => s.userId === POISON)?.errorCode).toBe('E_METADATA');
    expect(await queueJobs()).toEqual([
      { name: 'pgvector-migrate.migrate-finish', state: 'completed', n: 1 },
      { name: 'pgvector-migrate.store', state: 'completed', n: 29 },
      { name: 'pgvector-migrate.store', state: 'failed', n: 1 },
    ]);
    expect(status.lines[1]).toMatchObject({ queue: { done: 30, failed: 1, left: 0, total: 31 } });
    await workersGone();
    // A worker of another database on the same server (another migration) is not this queue's.
    const elsewhere = new URL(TEST_DATABASE_URL);
    elsewhere.pathname = '/postgres';
    const other = new pg.Client({ connectionString: elsewhere.toString(), application_name: 'pgvector-migrate worker elsewhere:1' });
    await other.connect();
    try {
      const watch = await runCli(['status', ...db, '--watch', '--json']);
      expect(watch.code, watch.stderr).toBe(1); // a job is failed
      expect(watch.lines.at(-1)).toMatchObject({ type: 'queue', done: 30, failed: 1, left: 0, total: 31, workers: [] });
    } finally {
      await other.end();
    }
    // The finish job closed the ledger run (and built the deferred index).
    expect(status.lines[0]).toMatchObject({ unfinishedRuns: [], searchIndex: 'valid' });
  }, 900_000);
});
