/**
 * `migrate --from-table ... --enqueue` shared by real worker processes on PostgreSQL. A table of
 * 12 owners in the target database (keep mode): 3 workers, one SIGKILLed while its store job is
 * active (held by SIGSTOP first, so the kill lands before the job is done); the target equals the
 * source, no row twice, every store ok, and a second --enqueue adds nothing. A table in another
 * database: the job names it as host:port/database only (no password in the queue); a worker
 * without --from-database and one pointed at another database fail the job with E_CONFIG, a
 * worker given the source through $PGVECTOR_MIGRATE_FROM_DATABASE completes it.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTablesLike, runCli, TEST_DATABASE_URL } from './helpers/cli.js';
import { onJsonLines } from './helpers/jsonLines.js';
import { createReadOnlySource, type ReadOnlySource } from './helpers/sourceDatabase.js';
import { eventOf, query, QUEUE_SCHEMA, queueJobs, startWorker, workersGone, type Worker } from './helpers/queueWorkers.js';

const suffix = randomBytes(4).toString('hex');
const prefix = `qtab_${suffix}_`;
const STORE_QUEUE = 'pgvector-migrate.store';
const OWNERS = Array.from({ length: 12 }, (_, n) => `owner${String(n).padStart(2, '0')}`);
const ROWS = 150;
const DIMS = 8;

interface StatusStore {
  userId: string;
  collection: string;
  status: string;
  runId: string;
  errorCode: string | null;
}

async function statusStores(table: string): Promise<StatusStore[]> {
  const status = await runCli(['status', '--database-url', TEST_DATABASE_URL, '--table', table, '--json']);
  return (status.lines[0] as unknown as { stores: StatusStore[] }).stores;
}

function enqueuedOf(lines: Record<string, unknown>[]): { runId: string | null; stores: number; enqueued: number; failedValidation: number } {
  const found = lines.find((l) => 'enqueued' in l)?.['enqueued'];
  if (found === undefined) throw new Error(`no enqueued line in ${JSON.stringify(lines.slice(-3))}`);
  return found as ReturnType<typeof enqueuedOf>;
}

beforeAll(async () => {
  await query(`DROP SCHEMA IF EXISTS ${QUEUE_SCHEMA} CASCADE`);
});

afterAll(async () => {
  await dropTablesLike(TEST_DATABASE_URL, prefix);
});

describe('migrate --from-table --enqueue: a table of the target database, 3 workers, one SIGKILLed mid-store (pg)', () => {
  const source = `${prefix}docs`;
  const table = `${prefix}documents`;
  const enqueue = ['migrate', '--from-table', source, '--map', 'id=id,user_id=owner,collection=kind,text=body,vector=embedding', '--embeddings', 'keep', '--table', table, '--database-url', TEST_DATABASE_URL, '--enqueue', '--job-timeout', '10', '--json'];

  beforeAll(async () => {
    await query('CREATE EXTENSION IF NOT EXISTS vector');
    await query(`CREATE TABLE "${source}" (id bigserial PRIMARY KEY, owner text NOT NULL, kind text NOT NULL, body text NOT NULL, embedding vector(${DIMS}) NOT NULL)`);
    // One statement: every owner's rows, vectors of float32-exact values.
    await query(
      `INSERT INTO "${source}" (owner, kind, body, embedding)
       SELECT 'owner' || lpad(o::text, 2, '0'), 'docs', format('owner%s row %s: it''s "queued" \\ once', o, r),
              array(SELECT ((o * 31 + r * 7 + d) % 17 - 8)::real / 8 FROM generate_series(1, ${DIMS}) AS d)::vector
       FROM generate_series(0, ${OWNERS.length - 1}) AS o, generate_series(1, ${ROWS}) AS r`,
    );
  });

  it('loads every row once, the killed job finished by another worker; a second --enqueue adds nothing', async () => {
    const first = await runCli(enqueue);
    expect(first.code, first.stderr).toBe(0);
    const enqueued = enqueuedOf(first.lines);
    expect(enqueued).toMatchObject({ stores: OWNERS.length, enqueued: OWNERS.length, failedValidation: 0 });
    const [job] = await query<{ data: { tableSource: unknown } }>(`SELECT data FROM ${QUEUE_SCHEMA}.job WHERE name = $1 LIMIT 1`, [STORE_QUEUE]);
    expect(job?.data.tableSource).toEqual({ table: source, mappingText: 'id=id,user_id=owner,collection=kind,text=body,vector=embedding', inTarget: true, database: null });

    // The victim is stopped (SIGSTOP) at each store job it starts until one is still active once
    // it is stopped: it cannot finish that job any more, and the SIGKILL leaves it to another worker.
    const victim = startWorker();
    const started: string[] = [];
    let wake: (() => void) | null = null;
    onJsonLines(victim.child.stdout ?? new PassThrough(), (e) => {
      if (e['type'] !== 'job-start' || e['queue'] !== STORE_QUEUE) return;
      victim.child.kill('SIGSTOP');
      started.push(e['jobId'] as string);
      wake?.();
    });
    let stopped: string | null = null;
    while (stopped === null) {
      if (started.length === 0) {
        const next = new Promise<void>((resolve) => (wake = resolve));
        const ended = await Promise.race([next.then(() => false), victim.exited.then(() => true)]);
        if (ended) throw new Error('the victim exited before it was stopped in an active store job');
      }
      const id = started.shift() as string;
      const [state] = await query<{ state: string }>(`SELECT state::text AS state FROM ${QUEUE_SCHEMA}.job WHERE id = $1`, [id]);
      if (state?.state === 'active') stopped = id;
      else victim.child.kill('SIGCONT');
    }
    victim.child.kill('SIGKILL');
    await victim.exited;

    const survivors: Worker[] = [startWorker(), startWorker()];
    for (const w of survivors) expect(await w.exited).toBe(0);
    const done = survivors.flatMap((w) => w.events.filter((e) => e['type'] === 'job-done' && e['queue'] === STORE_QUEUE).map((e) => e['jobId']));
    expect(done).toContain(stopped);
    expect(new Set(done).size).toBe(OWNERS.length);
    const [retried] = await query<{ retry_count: number; state: string }>(`SELECT retry_count, state::text AS state FROM ${QUEUE_SCHEMA}.job WHERE id = $1`, [stopped]);
    expect(retried).toMatchObject({ state: 'completed' });
    expect(retried?.retry_count).toBeGreaterThanOrEqual(1);

    // The target equals the source: rows per owner, texts and vectors, no row twice.
    const perOwner = await query<{ user_id: string; n: number; ids: number }>(`SELECT user_id, count(*)::int AS n, count(DISTINCT id)::int AS ids FROM "${table}" GROUP BY 1 ORDER BY 1`);
    expect(perOwner).toEqual(OWNERS.map((o) => ({ user_id: o, n: ROWS, ids: ROWS })));
    const loaded = await query<{ user_id: string; collection_name: string; text: string; v: string }>(`SELECT user_id, collection_name, text, embedding::text AS v FROM "${table}" ORDER BY user_id, text COLLATE "C"`);
    const expected = await query<{ user_id: string; collection_name: string; text: string; v: string }>(`SELECT owner AS user_id, kind AS collection_name, body AS text, embedding::text AS v FROM "${source}" ORDER BY owner, body COLLATE "C"`);
    expect(loaded).toEqual(expected);

    const stores = await statusStores(table);
    expect(stores.map((s) => [s.userId, s.collection, s.status, s.runId])).toEqual(OWNERS.map((o) => [o, 'docs', 'ok', enqueued.runId]));
    expect(await queueJobs()).toEqual([
      { name: 'pgvector-migrate.migrate-finish', state: 'completed', n: 1 },
      { name: STORE_QUEUE, state: 'completed', n: OWNERS.length },
    ]);

    const again = await runCli(enqueue);
    expect(again.code, again.stderr).toBe(0);
    expect(enqueuedOf(again.lines)).toMatchObject({ runId: null, stores: OWNERS.length, enqueued: 0 });
    expect(await query(`SELECT count(*)::int AS n FROM ${QUEUE_SCHEMA}.job WHERE name = $1`, [STORE_QUEUE])).toEqual([{ n: OWNERS.length }]);
    await workersGone();
  }, 300_000);
});

describe('migrate --from-table --from-database --enqueue: workers bring the source connection (pg)', () => {
  const database = `pgvm_qt_src_${suffix}`;
  const role = `pgvm_qt_reader_${suffix}`;
  const table = `${prefix}from_other`;
  let other: ReadOnlySource;
  let sourceUrl: string;
  let admin: pg.Client;
  let password: string;

  beforeAll(async () => {
    other = await createReadOnlySource(database, role, async (db) => {
      await db.query('CREATE TABLE kb.notes (id text PRIMARY KEY, owner text NOT NULL, body text NOT NULL, vec real[] NOT NULL)');
      for (let i = 0; i < 20; i++) await db.query('INSERT INTO kb.notes VALUES ($1, $2, $3, $4)', [`n${String(i).padStart(3, '0')}`, ['ann', 'bob'][i % 2], `note ${i}`, [i / 4, 1, -0.5, 0.25]]);
    });
    ({ admin, readerUrl: sourceUrl, password } = other);
  });

  afterAll(async () => {
    await other?.drop();
  });

  it('no password in the queue; without --from-database or with another database a worker fails the job with E_CONFIG; with the source it completes', async () => {
    const first = await runCli(['migrate', '--from-table', 'kb.notes', '--from-database', sourceUrl, '--map', 'user_id=owner,text=body,vector=vec', '--embeddings', 'keep', '--table', table, '--database-url', TEST_DATABASE_URL, '--enqueue', '--attempts', '4', '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(enqueuedOf(first.lines)).toMatchObject({ stores: 2, enqueued: 2 });
    const jobs = await query<{ data: { userId: string; tableSource: unknown } }>(`SELECT data FROM ${QUEUE_SCHEMA}.job WHERE name = $1 AND data->>'table' = $2`, [STORE_QUEUE, table]);
    expect(jobs).toHaveLength(2);
    const label = `${new URL(TEST_DATABASE_URL).hostname}:${new URL(TEST_DATABASE_URL).port || '5432'}/${database}`;
    for (const j of jobs) {
      expect(j.data.tableSource).toEqual({ table: 'kb.notes', mappingText: 'user_id=owner,collection=\'default\',text=body,vector=vec', inTarget: false, database: label });
      expect(JSON.stringify(j.data)).not.toContain(password);
      expect(JSON.stringify(j.data)).not.toContain(role);
    }

    // Each wrong worker fails both jobs once (one attempt each), then is stopped (SIGTERM: clean exit).
    const failures = async (worker: Worker): Promise<{ code: string; message: string }[]> => {
      const seen: { code: string; message: string }[] = [];
      while (seen.length < 2) {
        const e = await eventOf(worker, (x) => x['type'] === 'job-failed' && !seen.includes(x['error'] as { code: string; message: string }));
        seen.push(e['error'] as { code: string; message: string });
      }
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      return seen;
    };
    for (const error of await failures(startWorker())) {
      expect(error.code).toBe('E_CONFIG');
      expect(error.message).toContain(`from ${label}`);
      expect(error.message).toContain('--from-database');
      expect(error.message).toContain('PGVECTOR_MIGRATE_FROM_DATABASE');
    }
    const target = new URL(TEST_DATABASE_URL);
    for (const error of await failures(startWorker({}, ['--from-database', TEST_DATABASE_URL]))) {
      expect(error.code).toBe('E_CONFIG');
      expect(error.message).toContain(`is ${target.hostname}:${target.port || '5432'}${target.pathname}`);
    }
    expect(await query(`SELECT count(*)::int AS n FROM "${table}"`).catch(() => [{ n: 0 }])).toEqual([{ n: 0 }]);

    const right = startWorker({ PGVECTOR_MIGRATE_FROM_DATABASE: sourceUrl });
    expect(await right.exited).toBe(0);
    expect(right.events.filter((e) => e['type'] === 'job-done' && e['queue'] === STORE_QUEUE)).toHaveLength(2);
    const rows = await query<{ user_id: string; text: string; v: string }>(`SELECT user_id, text, embedding::text AS v FROM "${table}" ORDER BY text COLLATE "C"`);
    const expected = (await admin.query<{ user_id: string; text: string; v: string }>(`SELECT owner AS user_id, body AS text, '[' || array_to_string(vec, ',') || ']' AS v FROM kb.notes ORDER BY body COLLATE "C"`)).rows;
    expect(rows).toEqual(expected);
    expect((await statusStores(table)).map((s) => [s.userId, s.status])).toEqual([
      ['ann', 'ok'],
      ['bob', 'ok'],
    ]);
    await workersGone();
  }, 300_000);
});
