import { execFileSync, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSink } from '../src/sink/index.js';
import type { DocumentRow } from '../src/sink/types.js';
import { CLI, dropTable, readRows, REPO, runCli, SHARED_STORES, TEST_DATABASE_URL, targetArgs, TINY_MODEL, withDb, type Target } from './helpers/cli.js';

const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const env = { ENCRYPTION_MASTER_KEY: MASTER_KEY };

interface Report {
  runId: string;
  stores: { userId: string; collection: string; status: string; rowsLoaded: number; rowsReused: number; error: { code: string } | null }[];
}

/** Every column of a table's rows, embeddings as text, for exact before/after comparisons. */
function snapshot(target: Target, table: string, userId: string) {
  return withDb(target, (q) =>
    q<Record<string, unknown>>(
      `SELECT id::text, user_id, collection_name, text, embedding::text AS embedding, metadata::text AS metadata, created_at::text, updated_at::text,
              content_sha256, embedding_model, source_index, pca_model_id::text
         FROM "${table}" WHERE user_id = $1 ORDER BY collection_name, source_index`,
      [userId],
    ),
  );
}

describe.each(['pg', 'pglite'] as const)('support workflows (%s)', (driver) => {
  let work: string;
  let root: string;
  let target: Target;
  const table = `support_${driver}_${process.pid}`;
  const migrate = (...extra: string[]) => runCli(['migrate', root, ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--no-backup', ...extra], { env });
  const report = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as Report;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), `pvm-support-${driver}-`));
    root = path.join(work, 'user_data');
    await cp(path.join(SHARED_STORES, 'user_data'), root, { recursive: true });
    execFileSync('chmod', ['-R', 'u+w', root]);
    target = driver === 'pg' ? { driver, url: TEST_DATABASE_URL } : { driver, dir: path.join(work, 'db') };
  });
  afterAll(async () => {
    if (target.driver === 'pg') {
      await dropTable(target.url, table);
    }
    await rm(work, { recursive: true, force: true });
  });

  it('status tells what happened to every store, failed ones with their reason', async () => {
    expect((await migrate()).code).toBe(1);
    const r = await runCli(['status', ...targetArgs(target), '--table', table, '--json']);
    expect(r.code).toBe(1);
    const out = r.lines[0] as { stores: { userId: string; status: string; errorCode: string | null; errorMessage: string | null }[] };
    const by = (u: string) => out.stores.find((s) => s.userId === u);
    expect(by('dave')).toMatchObject({ status: 'failed', errorCode: 'E_COUNT_MISMATCH' });
    expect(by('erin')?.errorMessage).toMatch(/Fernet/);
    expect(by('bob')).toMatchObject({ status: 'ok', errorCode: null });
    const one = await runCli(['status', ...targetArgs(target), '--table', table, '--user', 'bob', '--json']);
    expect((one.lines[0] as { stores: unknown[] }).stores).toHaveLength(1);
  });

  it('every live run is closed in the ledger, even one that found no store', async () => {
    const file = path.join(work, 'nobody.json');
    expect((await migrate('--users', 'nobody_here', '--report', file)).code).toBe(0);
    const { runId } = await report(file);
    const runs = await withDb(target, (q) => q<{ status: string; finished: boolean }>('SELECT status, finished_at IS NOT NULL AS finished FROM migration_runs WHERE id = $1', [runId]));
    expect(runs).toEqual([{ status: 'succeeded', finished: true }]);
  });

  it('--retry-failed after a fix loads only the fixed store; the others are untouched', async () => {
    const before = await snapshot(target, table, 'alice_example_com');
    // Fix dave: drop the metadata entry that has no vector.
    const meta = path.join(root, 'dave', 'vector_store_personal_assistant', 'metadata.json');
    const entries = JSON.parse(await readFile(meta, 'utf8')) as unknown[];
    await writeFile(meta, JSON.stringify(entries.slice(0, 5)));
    const file = path.join(work, 'retry.json');
    const r = await migrate('--retry-failed', '--report', file);
    expect(r.code).toBe(1); // erin, heidi and ivan still fail
    const rep = await report(file);
    const touched = rep.stores.filter((s) => s.status !== 'skipped').map((s) => s.userId).sort();
    expect(touched).toEqual(['dave', 'erin', 'heidi', 'ivan']);
    expect(rep.stores.find((s) => s.userId === 'dave')).toMatchObject({ status: 'ok', rowsLoaded: 5 });
    expect(await snapshot(target, table, 'alice_example_com')).toEqual(before);
  });

  it('a store whose files are unchanged is skipped; --force reloads it, reusing the stored embeddings', async () => {
    const before = await snapshot(target, table, 'bob');
    const file = path.join(work, 'again.json');
    await migrate('--users', 'bob', '--report', file);
    expect((await report(file)).stores[0]).toMatchObject({ status: 'unchanged', rowsLoaded: 0 });
    expect(await snapshot(target, table, 'bob')).toEqual(before);
    const forced = path.join(work, 'forced.json');
    expect((await migrate('--users', 'bob', '--force', '--report', forced)).code).toBe(0);
    expect((await report(forced)).stores[0]).toMatchObject({ status: 'ok', rowsLoaded: 25, rowsReused: 25 });
    const after = await snapshot(target, table, 'bob');
    expect(after.map((r) => r['embedding'])).toEqual(before.map((r) => r['embedding']));
  });

  it('verify proves the table against the source, and catches a row altered behind the tool', async () => {
    const ok = await runCli(['verify', ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--json'], { env });
    const res = ok.lines[0] as { stores: { store: string; ok: boolean }[]; mismatches: unknown[] };
    expect(res.mismatches).toEqual([]);
    expect(ok.code).toBe(0);
    expect(res.stores.length).toBeGreaterThanOrEqual(10);
    await withDb(target, (q) => q(`UPDATE "${table}" SET text = text || ' (edited)' WHERE user_id = 'frank' AND source_index = 1`));
    await withDb(target, (q) => q(`UPDATE "${table}" SET user_id = 'bob' WHERE user_id = 'grace' AND source_index = 0`));
    const bad = await runCli(['verify', ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--json'], { env });
    expect(bad.code).toBe(1);
    const mismatches = (bad.lines[0] as { mismatches: { store: string; kind: string }[] }).mismatches;
    expect(mismatches).toContainEqual(expect.objectContaining({ store: 'frank/personal_assistant', kind: 'text-changed' }));
    expect(mismatches).toContainEqual(expect.objectContaining({ store: 'grace/personal_assistant', kind: 'wrong-user' }));
    expect(mismatches).toContainEqual(expect.objectContaining({ store: 'bob/personal_assistant', kind: 'extra-row' }));
    // Repair for the next tests.
    expect((await migrate('--users', 'frank,grace,bob', '--force')).code).toBe(0);
  });

  it('rollback restores exactly the rows a run replaced', async () => {
    const before = await snapshot(target, table, 'grace');
    const meta = path.join(root, 'grace', 'vector_store_personal_assistant', 'metadata.json');
    const entries = JSON.parse(await readFile(meta, 'utf8')) as { id: string; text?: string }[];
    entries[0] = { ...entries[0], id: 'a', text: 'a changed note' } as { id: string; text: string };
    await writeFile(meta, JSON.stringify(entries));
    const file = path.join(work, 'change.json');
    expect((await migrate('--users', 'grace', '--report', file)).code).toBe(0);
    const changed = await snapshot(target, table, 'grace');
    expect(changed.map((r) => r['text'])).toContain('a changed note');
    const { runId } = await report(file);
    const r = await runCli(['rollback', ...targetArgs(target), '--table', table, '--run', runId, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((r.lines[0] as { stores: { status: string }[] }).stores).toEqual([expect.objectContaining({ userId: 'grace', status: 'restored' })]);
    expect(await snapshot(target, table, 'grace')).toEqual(before);
    // The ledger says so, and a new run reloads grace's changed source instead of skipping it.
    const st = await runCli(['status', ...targetArgs(target), '--table', table, '--user', 'grace', '--json']);
    expect((st.lines[0] as { stores: { status: string }[] }).stores[0]?.status).toBe('rolled-back');
  });

});


describe('two runs on one store never interleave (real PostgreSQL: PGlite is one process, one session)', () => {
  let work: string;
  let root: string;
  const table = `locks_${process.pid}`;
  const target: Target = { driver: 'pg', url: TEST_DATABASE_URL };
  const migrate = (...extra: string[]) => runCli(['migrate', root, ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--no-backup', ...extra], { env });
  const report = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as Report;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-locks-'));
    root = path.join(SHARED_STORES, 'user_data');
  });
  afterAll(async () => {
    await dropTable(TEST_DATABASE_URL, table);
    await rm(work, { recursive: true, force: true });
  });

  it('--no-wait fails a store another run is writing with E_LOCKED; without it, the run waits', async () => {
    expect((await migrate('--users', 'bob')).code).toBe(0);
    const sink = await openSink({ databaseUrl: TEST_DATABASE_URL, pgliteDir: '' });
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered: () => void = () => {};
    const inside = new Promise<void>((resolve) => (entered = resolve));
    async function* blocking(): AsyncGenerator<DocumentRow[]> {
      entered();
      await held;
      throw new Error('released: roll back');
    }
    const holder = sink.loads.replaceStore({ table, dimensions: 32 }, { userId: 'bob', collection: 'personal_assistant' }, blocking()).catch(() => 'rolled back');
    await inside;
    try {
      const file = path.join(work, 'locked.json');
      const r = await migrate('--users', 'bob', '--force', '--no-wait', '--report', file);
      expect(r.code).toBe(1);
      expect((await report(file)).stores[0]?.error?.code).toBe('E_LOCKED');
      const waiting = migrate('--users', 'bob', '--force');
      // Release only once the second run really waits on the store's advisory lock (a fixed sleep
      // released it before a slow machine's CLI got there, and the test then proved nothing).
      await withDb({ driver: 'pg', url: TEST_DATABASE_URL }, async (query) => {
        for (let i = 0; i < 600; i++) {
          const [row] = await query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");
          if ((row?.n ?? 0) > 0) return;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        throw new Error('the second run never waited on the store lock within 60 s');
      });
      release();
      const w = await waiting;
      expect(w.code).toBe(0);
      expect(w.lines.some((l) => l['type'] === 'waiting')).toBe(true);
    } finally {
      release();
      await holder;
      await sink.close();
    }
  });
});

describe('SIGKILL in the middle of a store, then a re-run (real PostgreSQL)', () => {
  const table = `sigkill_${process.pid}`;
  let work: string;
  afterAll(async () => {
    await dropTable(TEST_DATABASE_URL, table);
    await rm(work, { recursive: true, force: true });
  });

  it('leaves the database equal to the source: no partial store, no duplicates', async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-kill-'));
    execFileSync('python3', [path.join(REPO, 'scripts/make_user_data.py'), '--out', work, '--seed', '21', '--users', '4', '--max-entries', '120']);
    const expected = JSON.parse(await readFile(path.join(work, 'expected.json'), 'utf8')) as { stores: { user: string; collection: string; status: string; texts: string[] }[] };
    const args = [CLI, 'migrate', path.join(work, 'user_data'), '--database-url', TEST_DATABASE_URL, '--table', table, '--model', TINY_MODEL, '--no-backup', '--batch-size', '2', '--json'];
    let kills = 0;
    for (const trial of [1, 2, 3]) {
      // Kill at a different point each time: at the (7 x trial)-th progress line of an unfinished store.
      await new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
        let seen = 0;
        let buffered = '';
        child.stdout.on('data', (d: Buffer) => {
          buffered += d.toString('utf8');
          const lines = buffered.split('\n');
          buffered = lines.pop() ?? '';
          for (const l of lines) {
            const e = JSON.parse(l) as { type: string; rowsDone?: number; rowsTotal?: number };
            if (e.type === 'store-progress' && (e.rowsDone ?? 0) < (e.rowsTotal ?? 0) && ++seen === trial * 7) {
              kills++;
              child.kill('SIGKILL');
            }
          }
        });
        child.on('error', reject);
        child.on('close', (code, signal) => (signal === 'SIGKILL' || code !== null ? resolve() : reject(new Error('no exit'))));
      });
    }
    expect(kills).toBe(3); // every trial really died in the middle of a store
    const done = await runCli(args.slice(1));
    expect(done.code).toBe(1); // the two deliberately broken stores of the generated tree
    const rows = await readRows({ driver: 'pg', url: TEST_DATABASE_URL }, table);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    for (const s of expected.stores) {
      const got = rows.filter((r) => r.user_id === s.user && r.collection_name === s.collection).map((r) => r.text);
      expect(got, `${s.user}/${s.collection}`).toEqual(s.status === 'ok' ? s.texts : []);
    }
  });
});
