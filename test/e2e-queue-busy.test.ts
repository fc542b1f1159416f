/**
 * A worker with jobs queued fetches the next one as soon as it finishes one (issue 14 item 7: the
 * coordination costs almost nothing). pg-boss alone waits out its polling interval after every
 * fetch, so a worker spent at least POLL_SECONDS per job however small the store: 15 stores of one
 * document took over 30 s; fetched at once they take a few. Measured from the queue's own timestamps,
 * not the wall clock of the test.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POLL_SECONDS, QUEUE_SCHEMA } from '../src/queue/engine.js';
import { dropTablesLike, REPO, runCli, TEST_DATABASE_URL } from './helpers/cli.js';
import { query } from './helpers/queueWorkers.js';

const STORES = Array.from({ length: 15 }, (_, n) => ({
  user: `busy${String(n).padStart(2, '0')}`,
  collection: 'notes',
  encrypt: false,
  dims: 6,
  entries: [{ id: `busy-${n}`, text: `note ${n}: one document, one job`, timestamp: '2024-01-01' }],
}));

describe('a busy worker (pg)', () => {
  let work: string;
  let root: string;
  const table = `qbusy_${process.pid}`;
  const db = ['--database-url', TEST_DATABASE_URL, '--table', table];

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-queue-busy-'));
    root = path.join(work, 'user_data');
    execFileSync('python3', [path.join(REPO, 'scripts/write_stores.py')], { input: JSON.stringify({ root, stores: STORES }) });
  });
  afterAll(async () => {
    await dropTablesLike(TEST_DATABASE_URL, table);
    await rm(work, { recursive: true, force: true });
  });

  it('takes its next job at once, not after a polling interval per job', async () => {
    const enqueued = await runCli(['migrate', root, ...db, '--embeddings', 'keep', '--no-backup', '--enqueue']);
    expect(enqueued.code, enqueued.stderr).toBe(0);
    expect(enqueued.lines.find((l) => 'enqueued' in l)?.['enqueued']).toMatchObject({ enqueued: STORES.length });

    const worker = await runCli(['worker', '--database-url', TEST_DATABASE_URL, '--drain', '--json']);
    expect(worker.code, worker.stderr).toBe(0);
    expect(worker.lines.filter((l) => l['type'] === 'job-done' && l['queue'] === 'pgvector-migrate.store')).toHaveLength(STORES.length);
    // The queue's own record of each job: from one job's completion to the next one's start, a
    // worker that waited out its polling interval shows POLL_SECONDS; one that fetched at once
    // shows milliseconds. The median is robust to a loaded machine stalling a gap or two.
    const jobs = await query<{ started: Date; completed: Date }>(
      `SELECT started_on AS started, completed_on AS completed FROM ${QUEUE_SCHEMA}.job WHERE name = 'pgvector-migrate.store' AND data->>'table' = $1 ORDER BY started_on`,
      [table],
    );
    expect(jobs).toHaveLength(STORES.length);
    const gaps = jobs.slice(1).map((j, i) => j.started.getTime() - (jobs[i] as { completed: Date }).completed.getTime()).sort((a, b) => a - b);
    expect(gaps[Math.floor(gaps.length / 2)]).toBeLessThan((POLL_SECONDS * 1000) / 2);

    expect(await query(`SELECT count(*)::int AS n FROM "${table}"`)).toEqual([{ n: STORES.length }]);
  }, 300_000);
});
