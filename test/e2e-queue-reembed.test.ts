/**
 * `reembed --enqueue` shared by three real worker processes on PostgreSQL (issue 14): one worker
 * is SIGKILLed mid-page, its page is finished by another once its expiry passes, every row ends
 * with exactly one vector of the new model, and the swap happens once. Enqueueing the same
 * re-embedding again adds no job; PGlite refuses --enqueue instead of hanging.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTablesLike, REPO, runCli, SHARED_STORES, TEST_DATABASE_URL, TINY_MODEL } from './helpers/cli.js';
import { eventOf, query, QUEUE_SCHEMA, queueJobs, startWorker, type Worker } from './helpers/queueWorkers.js';

const MODEL_48 = path.join(REPO, 'fixtures/models/tiny-bert-48');
const ROOT = path.join(SHARED_STORES, 'user_data');
const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const ROWS = 115;

describe('reembed --enqueue with 3 worker processes (pg)', () => {
  const table = `qreemb_${process.pid}`;
  const db = ['--database-url', TEST_DATABASE_URL, '--table', table];

  beforeAll(async () => {
    // The queue's schema is this test's alone on its database: start from an empty queue.
    await query(`DROP SCHEMA IF EXISTS ${QUEUE_SCHEMA} CASCADE`);
    const r = await runCli(['migrate', ROOT, ...db, '--model', TINY_MODEL, '--no-backup'], { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(r.code, r.stderr).toBe(1); // the shared data holds stores that must fail
  });
  afterAll(async () => {
    await dropTablesLike(TEST_DATABASE_URL, table);
  });

  it('survives a SIGKILLed worker: one vector per row, one swap, a second enqueue adds nothing', async () => {
    const enqueue = ['reembed', ...db, '--model', MODEL_48, '--enqueue', '--page-rows', '5', '--job-timeout', '20', '--attempts', '5'];
    const first = await runCli(enqueue);
    expect(first.code, first.stderr).toBe(0);
    const enqueued = first.lines.find((l) => 'enqueued' in l)?.['enqueued'] as { pages: number; rows: number; jobId: string };
    expect(enqueued).toMatchObject({ rows: ROWS, pages: Math.ceil(ROWS / 5) });
    const before = await queueJobs();
    const again = await runCli(enqueue);
    expect(again.code, again.stderr).toBe(0);
    expect(again.lines.find((l) => 'enqueued' in l)?.['enqueued']).toMatchObject({ jobId: enqueued.jobId, pages: enqueued.pages });
    expect(await queueJobs()).toEqual(before);
    expect(before).toEqual([{ name: 'pgvector-migrate.reembed-page', state: 'created', n: enqueued.pages }]);

    const workers = [startWorker(), startWorker(), startWorker()];
    const victim = workers[0] as Worker;
    const started = await eventOf(victim, (e) => e['type'] === 'job-start');
    victim.child.kill('SIGKILL');
    await victim.exited;
    const killedJob = started['jobId'] as string;
    const killedDone = victim.events.some((e) => e['type'] === 'job-done' && e['jobId'] === killedJob);

    const codes = await Promise.all(workers.slice(1).map((w) => w.exited));
    expect(codes).toEqual([0, 0]);
    const survivors = workers.slice(1).flatMap((w) => w.events);
    if (!killedDone) expect(survivors.some((e) => e['type'] === 'job-done' && e['jobId'] === killedJob)).toBe(true);

    const [shape] = await query<{ rows: number; ids: number; dims: number[]; fingerprints: number; models: string[] }>(
      `SELECT count(*)::int AS rows, count(DISTINCT id)::int AS ids, array_agg(DISTINCT vector_dims(embedding)) AS dims,
              count(DISTINCT embedding_fingerprint)::int AS fingerprints, array_agg(DISTINCT embedding_model) AS models FROM "${table}"`,
    );
    expect(shape).toEqual({ rows: ROWS, ids: ROWS, dims: [48], fingerprints: 1, models: [MODEL_48] });
    const swaps = survivors.filter((e) => e['type'] === 'job-done' && e['queue'] === 'pgvector-migrate.reembed-swap');
    expect(swaps).toHaveLength(1);
    const jobs = await queueJobs();
    expect(jobs).toEqual([
      { name: 'pgvector-migrate.reembed-page', state: 'completed', n: enqueued.pages },
      { name: 'pgvector-migrate.reembed-swap', state: 'completed', n: 1 },
    ]);
    const retired = await query<{ relname: string }>(`SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND relname LIKE $1`, [`${table}_%`]);
    expect(retired.filter((r) => r.relname.startsWith(`${table}_reembed`))).toEqual([]);
  }, 600_000);
});

describe('--enqueue on PGlite', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-queue-pglite-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('is refused with E_UNSUPPORTED, as is a worker without a server', async () => {
    const pgliteDir = path.join(work, 'db');
    const load = await runCli(['migrate', ROOT, '--pglite-dir', pgliteDir, '--table', 'docs', '--model', TINY_MODEL, '--no-backup'], { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(load.code, load.stderr).toBe(1);
    const r = await runCli(['reembed', '--pglite-dir', pgliteDir, '--table', 'docs', '--model', MODEL_48, '--enqueue']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error E_UNSUPPORTED: reembed --enqueue needs a PostgreSQL server/m);
    const w = await runCli(['worker', '--drain']);
    expect(w.code).toBe(2);
    expect(w.stderr).toMatch(/^error E_UNSUPPORTED: worker needs a PostgreSQL server/m);
  }, 300_000);
});
