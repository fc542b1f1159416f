/**
 * The CLI on a table with row-level security and hash partitions, run as the role README
 * documents for the tool: a login role that is NOT a superuser, has BYPASSRLS and owns its schema.
 * migrate --rls --partitions, status, verify, doctor, a second run and its rollback, setup-rls; an
 * application role sees one user's rows; a tool role without BYPASSRLS gets a coded error.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openQueue, QUEUE_SCHEMA } from '../src/queue/engine.js';
import { runCli, SHARED_STORES, TEST_DATABASE_URL, TINY_MODEL } from './helpers/cli.js';

const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const ROOT = path.join(SHARED_STORES, 'user_data');

describe('row-level security and partitions through the CLI (pg, migration role with BYPASSRLS)', () => {
  const suffix = randomBytes(4).toString('hex');
  const migrator = `e2e_rls_migrator_${suffix}`;
  const app = `e2e_rls_app_${suffix}`;
  const plain = `e2e_rls_plain_${suffix}`;
  const schema = `e2e_rls_${suffix}`;
  const table = `${schema}.docs`;
  const password = randomBytes(12).toString('hex');
  let admin: pg.Client;
  let work: string;
  const urlOf = (role: string) => {
    const url = new URL(TEST_DATABASE_URL);
    url.username = role;
    url.password = password;
    return url.toString();
  };
  const db = () => ['--database-url', urlOf(migrator), '--table', table];
  const env = { ENCRYPTION_MASTER_KEY: MASTER_KEY };

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    work = await mkdtemp(path.join(tmpdir(), 'pvm-e2e-rls-'));
    await admin.query(`CREATE ROLE "${migrator}" LOGIN PASSWORD '${password}' NOSUPERUSER BYPASSRLS`);
    await admin.query(`CREATE ROLE "${plain}" LOGIN PASSWORD '${password}' NOSUPERUSER NOBYPASSRLS`);
    await admin.query(`CREATE ROLE "${app}" NOLOGIN`);
    await admin.query(`CREATE SCHEMA "${schema}" AUTHORIZATION "${migrator}"`);
    const r = await runCli(['migrate', ROOT, ...db(), '--model', TINY_MODEL, '--no-backup', '--rls', '--partitions', '4', '--report', path.join(work, 'first.json')], { env });
    // Some stores of the shared data fail on purpose (bad pickles, wrong keys): exit 1.
    expect(r.code, r.stderr).toBe(1);
  }, 240_000);

  afterAll(async () => {
    for (const role of [app, plain, migrator]) {
      await admin.query(`DROP OWNED BY "${role}" CASCADE`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS "${role}"`);
    }
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
    await rm(work, { recursive: true, force: true });
  });

  it('creates the table partitioned, with RLS enabled and forced, owned by the migration role', async () => {
    const { rows } = await admin.query<{ owner: string; rls: boolean; forced: boolean; parts: number; rows: number }>(
      `SELECT pg_get_userbyid(c.relowner)::text AS owner, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
              (SELECT count(*)::int FROM pg_inherits WHERE inhparent = c.oid) AS parts,
              (SELECT count(*)::int FROM "${schema}".docs) AS rows
         FROM pg_class c WHERE c.oid = to_regclass($1)`,
      [`"${schema}"."docs"`],
    );
    expect(rows).toEqual([{ owner: migrator, rls: true, forced: true, parts: 4, rows: 115 }]);
    // Each partition has its own HNSW index (built at the end of the run).
    const hnsw = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am a ON a.oid = i.relam JOIN pg_inherits h ON h.inhrelid = x.indrelid
        WHERE h.inhparent = to_regclass($1) AND a.amname = 'hnsw'`,
      [`"${schema}"."docs"`],
    );
    expect(hnsw.rows[0]?.n).toBe(4);
  });

  it('status, verify and doctor work on it', async () => {
    // The job queue installed by another role (the superuser here), as when an operator enqueued
    // work in this database: the migration role cannot read it, and status still reports the ledger.
    const boss = await openQueue(TEST_DATABASE_URL, { applicationName: 'e2e-rls installs the queue', supervise: false }, () => undefined);
    await boss.stop({ graceful: false, wait: true });
    const status = await runCli(['status', ...db(), '--json']);
    // Exit 1: the shared data's deliberately broken stores are failed in the ledger.
    expect(status.code, status.stderr).toBe(1);
    const json = status.lines[0] as { stores: { userId: string; status: string }[]; notes: string[] };
    expect(json.stores.filter((s) => s.status === 'ok').map((s) => s.userId)).toContain('bob');
    expect(json.notes.join('\n')).toContain(`the job queue (schema ${QUEUE_SCHEMA}) exists but this role cannot read it`);
    const watch = await runCli(['status', ...db(), '--watch', '--json']);
    expect(watch.code).toBe(2);
    expect(watch.stderr).toMatch(new RegExp(`error E_CONFIG: the job queue \\(schema ${QUEUE_SCHEMA}\\) was installed by another role .*GRANT USAGE ON SCHEMA ${QUEUE_SCHEMA}`));
    const verify = await runCli(['verify', ...db(), '--model', TINY_MODEL, '--user', 'bob', '--json'], { env });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect((verify.lines[0] as { mismatches: unknown[] }).mismatches).toEqual([]);
    const doctor = await runCli(['doctor', ...db(), '--json']);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    expect((doctor.lines[0] as { diagnosis: { rows: number } }).diagnosis.rows).toBe(115);
  });

  it("an application role with app.user_id = bob sees only bob's rows, and none without it", async () => {
    await admin.query(`GRANT USAGE ON SCHEMA "${schema}" TO "${app}"`);
    await admin.query(`GRANT SELECT ON "${schema}".docs TO "${app}"`);
    await admin.query('BEGIN');
    try {
      await admin.query(`SET LOCAL ROLE "${app}"`);
      expect((await admin.query(`SELECT count(*)::int AS n FROM "${schema}".docs`)).rows).toEqual([{ n: 0 }]);
      await admin.query(`SELECT set_config('app.user_id', 'bob', true)`);
      expect((await admin.query(`SELECT user_id, count(*)::int AS n FROM "${schema}".docs GROUP BY 1`)).rows).toEqual([{ user_id: 'bob', n: 25 }]);
    } finally {
      await admin.query('ROLLBACK');
    }
  });

  it('a second run without --partitions loads it, and its rollback restores the rows', async () => {
    // created_at shows which load a row comes from: the rollback must bring back the first run's.
    const snapshot = async () => (await admin.query(`SELECT id, text, embedding::text, created_at FROM "${schema}".docs WHERE user_id = 'bob' ORDER BY id`)).rows;
    const before = await snapshot();
    const report = path.join(work, 'second.json');
    const again = await runCli(['migrate', ROOT, ...db(), '--model', TINY_MODEL, '--no-backup', '--users', 'bob', '--force', '--report', report], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(await snapshot()).not.toEqual(before);
    const { runId } = JSON.parse(await readFile(report, 'utf8')) as { runId: string };
    const rollback = await runCli(['rollback', ...db(), '--run', runId, '--json']);
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    expect((rollback.lines[0] as { stores: { status: string }[] }).stores.map((s) => s.status)).toEqual(['restored']);
    expect(await snapshot()).toEqual(before);
  });

  it('setup-rls is idempotent; --partitions of another count is refused with a coded error', async () => {
    const first = await runCli(['setup-rls', ...db(), '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.lines[0]).toEqual({ table, changed: false });
    const other = await runCli(['migrate', ROOT, ...db(), '--model', TINY_MODEL, '--no-backup', '--users', 'bob', '--partitions', '8', '--dry-run']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/error E_SCHEMA: .*already exists with 4 hash partitions on user_id, not 8/);
    const one = await runCli(['migrate', ROOT, ...db(), '--model', TINY_MODEL, '--no-backup', '--partitions', '1', '--dry-run']);
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/error E_USAGE: --partitions must be between 2 and 256/);
  });

  it('a tool role without BYPASSRLS gets a coded error, never a table that looks empty', async () => {
    await admin.query(`GRANT USAGE ON SCHEMA "${schema}" TO "${plain}"`);
    await admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA "${schema}" TO "${plain}"`);
    const doctor = await runCli(['doctor', '--database-url', urlOf(plain), '--table', table, '--json']);
    expect(doctor.code).toBe(2);
    expect(doctor.stderr).toMatch(/error E_\w+: .*row-level security.*BYPASSRLS/);
  });
});
