/**
 * Failure paths of a run, through the built CLI in its own process, on real PostgreSQL and PGlite:
 * stores that cannot be read fail (and are recorded), keep mode with a wrong key reports each
 * store's own failure, SIGINT/SIGTERM stop a run between stores, and an exit-2 run still writes
 * its --report. Stores are Python-written (shared testdata, scripts/make_user_data.py).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, dropTable, readRows, REPO, runCli, SHARED_STORES, TEST_DATABASE_URL, targetArgs, TINY_MODEL, withDb, type Target } from './helpers/cli.js';
import { onJsonLines } from './helpers/jsonLines.js';

const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;

interface ReportStore {
  userId: string;
  collection: string;
  status: string;
  rowsLoaded: number;
  error: { code: string; message: string } | null;
}
interface Report {
  runId: string;
  stores: ReportStore[];
  interrupted?: { reason: string; storesNotStarted: number };
  error?: { code: string; message: string };
}
interface StatusLine {
  stores: { userId: string; collection: string; status: string; errorCode: string | null; runId: string; rows: number; rowsLoaded: number }[];
  unfinishedRuns: { id: string; status: string }[];
  searchIndex: string | null;
  notes: string[];
}

const readReport = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as Report;
const byLabel = (stores: ReportStore[]) => Object.fromEntries(stores.map((s) => [`${s.userId}/${s.collection}`, s]));

/** A writable copy of the Python-written stores (the shared ones are read-only). */
async function copyStores(work: string): Promise<string> {
  const root = path.join(work, 'user_data');
  await cp(path.join(SHARED_STORES, 'user_data'), root, { recursive: true });
  execFileSync('chmod', ['-R', 'u+w', root]);
  return root;
}

function mkfifo(file: string): void {
  const r = spawnSync('mkfifo', [file]);
  if (r.status !== 0) throw new Error(`mkfifo ${file} failed: ${r.stderr.toString()}`);
}

function target(driver: 'pg' | 'pglite', work: string): Target {
  return driver === 'pg' ? { driver: 'pg', url: TEST_DATABASE_URL } : { driver: 'pglite', dir: path.join(work, 'pglite') };
}

describe.each(['pg', 'pglite'] as const)('stores that cannot be read (%s)', (driver) => {
  const table = `unreadable_${driver}_${process.pid}`;
  let work: string;
  let root: string;
  let db: Target;
  const migrate = (...extra: string[]) => runCli(['migrate', root, ...targetArgs(db), '--table', table, '--model', TINY_MODEL, '--no-backup', ...extra], { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-unreadable-'));
    db = target(driver, work);
    root = await copyStores(work);
    // alice's notes: metadata.json is a directory; bob: metadata.json is a FIFO (opening it would
    // block forever); carol: metadata.json links outside the store; frank: vectors.pkl is a FIFO.
    const store = (user: string) => path.join(root, user, 'vector_store_personal_assistant');
    await rm(path.join(root, 'alice_example_com/vector_store_notes/metadata.json'));
    await mkdir(path.join(root, 'alice_example_com/vector_store_notes/metadata.json'));
    await rm(path.join(store('bob'), 'metadata.json'));
    mkfifo(path.join(store('bob'), 'metadata.json'));
    await writeFile(path.join(work, 'elsewhere.json'), '[]');
    await rm(path.join(store('carol_corp'), 'metadata.json'));
    await symlink(path.join(work, 'elsewhere.json'), path.join(store('carol_corp'), 'metadata.json'));
    await rm(path.join(store('frank'), 'vectors.pkl'));
    mkfifo(path.join(store('frank'), 'vectors.pkl'));
  });
  afterAll(async () => {
    if (driver === 'pg') await dropTable(TEST_DATABASE_URL, table);
    await rm(work, { recursive: true, force: true });
  });

  it('fails each with its code, records it in the ledger, exits 1; only non-stores stay skipped', async () => {
    const file = path.join(work, 'report.json');
    const r = await migrate('--report', file);
    expect(r.code).toBe(1);
    const stores = byLabel((await readReport(file)).stores);
    expect(stores['alice_example_com/notes']).toMatchObject({ status: 'failed', error: { code: 'E_MISSING_FILE', message: expect.stringMatching(/metadata\.json is a directory/) } });
    expect(stores['bob/personal_assistant']).toMatchObject({ status: 'failed', error: { code: 'E_MISSING_FILE', message: expect.stringMatching(/metadata\.json is a FIFO/) } });
    expect(stores['carol_corp/personal_assistant']).toMatchObject({ status: 'failed', error: { code: 'E_PATH', message: expect.stringMatching(/outside its store directory/) } });
    expect(stores['frank/personal_assistant']).toMatchObject({ status: 'failed', error: { code: 'E_MISSING_FILE', message: expect.stringMatching(/vectors\.pkl is a FIFO/) } });
    // CASES.json outcomes of the stores left intact still hold.
    expect(stores['alice_example_com/personal_assistant']?.status).toBe('ok');
    expect(stores['heidi/personal_assistant']).toMatchObject({ status: 'failed', error: { code: 'E_MISSING_FILE' } });
    expect(stores['not a valid id/-']?.status).toBe('skipped');
    expect(Object.values(stores).filter((s) => s.status === 'skipped').map((s) => s.userId)).toEqual(['not a valid id']);

    const status = await runCli(['status', ...targetArgs(db), '--table', table, '--json']);
    expect(status.code).toBe(1);
    const outcomes = Object.fromEntries((status.lines[0] as unknown as StatusLine).stores.map((o) => [`${o.userId}/${o.collection}`, o]));
    for (const label of ['alice_example_com/notes', 'bob/personal_assistant', 'carol_corp/personal_assistant', 'frank/personal_assistant']) {
      expect(outcomes[label], label).toMatchObject({ status: 'failed' });
    }
    expect(outcomes['carol_corp/personal_assistant']?.errorCode).toBe('E_PATH');
    expect((await readRows(db, table)).filter((row) => ['bob', 'carol_corp', 'frank'].includes(row.user_id))).toEqual([]);
  });

  it('--retry-failed retries them (they are among the run stores), and a repaired one loads', async () => {
    const notes = path.join(root, 'alice_example_com/vector_store_notes/metadata.json');
    await rm(notes, { recursive: true });
    await cp(path.join(SHARED_STORES, 'user_data/alice_example_com/vector_store_notes/metadata.json'), notes);
    const file = path.join(work, 'retry.json');
    const r = await migrate('--retry-failed', '--report', file);
    expect(r.code).toBe(1);
    const stores = byLabel((await readReport(file)).stores);
    expect(stores['alice_example_com/notes']).toMatchObject({ status: 'ok', rowsLoaded: 12 });
    expect(stores['bob/personal_assistant']).toMatchObject({ status: 'failed', error: { code: 'E_MISSING_FILE' } });
    expect(stores['frank/personal_assistant']).toMatchObject({ status: 'failed', error: { code: 'E_MISSING_FILE' } });
    expect(stores['alice_example_com/personal_assistant']).toBeUndefined();
  });
});

describe.each(['pg', 'pglite'] as const)('keep mode with a wrong master key (%s)', (driver) => {
  const table = `keepkey_${driver}_${process.pid}`;
  let work: string;
  let db: Target;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-keepkey-'));
    db = target(driver, work);
  });
  afterAll(async () => {
    if (driver === 'pg') await dropTable(TEST_DATABASE_URL, table);
    await rm(work, { recursive: true, force: true });
  });

  it("reports and records every store's own E_DECRYPT, writes the report, exits 1", async () => {
    const file = path.join(work, 'report.json');
    const wrongKey = 'W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xA=';
    const r = await runCli(['migrate', path.join(SHARED_STORES, 'user_data'), '--users', 'alice_example_com,bob', '--collections', 'personal_assistant', ...targetArgs(db), '--table', table, '--embeddings', 'keep', '--no-backup', '--report', file], {
      env: { ENCRYPTION_MASTER_KEY: wrongKey },
    });
    expect(r.stderr).not.toMatch(/no stored vectors/);
    expect(r.code).toBe(1);
    const stores = (await readReport(file)).stores;
    expect(stores.map((s) => [s.userId, s.status, s.error?.code])).toEqual([
      ['alice_example_com', 'failed', 'E_DECRYPT'],
      ['bob', 'failed', 'E_DECRYPT'],
    ]);
    const status = await runCli(['status', ...targetArgs(db), '--table', table, '--json']);
    expect((status.lines[0] as unknown as StatusLine).stores.map((o) => [o.userId, o.status, o.errorCode])).toEqual([
      ['alice_example_com', 'failed', 'E_DECRYPT'],
      ['bob', 'failed', 'E_DECRYPT'],
    ]);
  });
});

interface Generated {
  stores: { user: string; collection: string; status: string; texts: string[] }[];
}

/** Spawns the CLI; `onLine` sees every JSON line and may signal the child. Resolves with the exit code. */
function spawnMigrate(args: string[], onLine: (event: Record<string, unknown>, child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    onJsonLines(child.stdout, (line) => onLine(line, child));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe.each(['pg', 'pglite'] as const)('SIGINT and SIGTERM stop a run between stores (%s)', (driver) => {
  const table = `signal_${driver}_${process.pid}`;
  let work: string;
  let root: string;
  let db: Target;
  let expected: Generated;
  const fresh = `${table}_abort`;
  const argsFor = (t: string, extra: string[]) => ['migrate', root, ...targetArgs(db), '--table', t, '--model', TINY_MODEL, '--no-backup', '--batch-size', '2', '--json', ...extra];
  const args = (...extra: string[]) => argsFor(table, extra);

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-signal-'));
    db = target(driver, work);
    execFileSync('python3', [path.join(REPO, 'scripts/make_user_data.py'), '--out', work, '--seed', '21', '--users', '4', '--max-entries', '120']);
    root = path.join(work, 'user_data');
    expected = JSON.parse(await readFile(path.join(work, 'expected.json'), 'utf8')) as Generated;
  });
  afterAll(async () => {
    if (driver === 'pg') await dropTable(TEST_DATABASE_URL, table);
    if (driver === 'pg') await dropTable(TEST_DATABASE_URL, fresh);
    await rm(work, { recursive: true, force: true });
  });

  /** Every store of the source is either fully loaded or absent; returns the loaded ones. */
  async function loadedStores(t = table): Promise<string[]> {
    const rows = await readRows(db, t);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    const loaded: string[] = [];
    for (const s of expected.stores) {
      const got = rows.filter((r) => r.user_id === s.user && r.collection_name === s.collection).map((r) => r.text);
      if (got.length > 0) {
        expect(got, `${s.user}/${s.collection}`).toEqual(s.texts);
        loaded.push(`${s.user}/${s.collection}`);
      }
    }
    return loaded;
  }

  const runStatus = (runId: string) => withDb(db, (q) => q<{ status: string; finished: boolean }>('SELECT status, finished_at IS NOT NULL AS finished FROM migration_runs WHERE id = $1', [runId]));

  it('SIGINT: the current store finishes, the rest do not start, report and ledger say interrupted, exit 130; a re-run completes', async () => {
    const file = path.join(work, 'sigint.json');
    let sent = false;
    const r = await spawnMigrate(args('--report', file), (e, child) => {
      if (!sent && e['type'] === 'store-progress' && (e['rowsDone'] as number) < (e['rowsTotal'] as number)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted \(SIGINT\).*Run the same command again/);
    const report = await readReport(file);
    expect(report.interrupted?.reason).toBe('SIGINT');
    expect(report.interrupted?.storesNotStarted).toBeGreaterThan(0);
    const notStarted = report.stores.filter((s) => s.error?.code === 'E_INTERRUPTED');
    expect(notStarted.length).toBe(report.interrupted?.storesNotStarted);
    for (const s of notStarted) expect(s.status).toBe('skipped');
    const ok = report.stores.filter((s) => s.status === 'ok').map((s) => `${s.userId}/${s.collection}`);
    expect(ok.length).toBeGreaterThan(0);
    expect(await runStatus(report.runId)).toEqual([{ status: 'interrupted', finished: true }]);
    expect((await loadedStores()).sort()).toEqual(ok.sort());
    // status names the interrupted run, and the index the interrupted run did not build.
    const during = (await runCli(['status', ...targetArgs(db), '--table', table, '--json'])).lines[0] as unknown as StatusLine;
    expect(during.unfinishedRuns).toEqual([expect.objectContaining({ id: report.runId, status: 'interrupted' })]);
    expect(during.searchIndex).toBe('missing');
    expect(during.notes.join('\n')).toMatch(/was interrupted: run the same migrate again[\s\S]*HNSW search index is missing/);

    const again = await runCli(args('--report', path.join(work, 'rerun.json')));
    expect(again.code).toBe(1); // the generated tree's two broken stores
    const rerun = await readReport(path.join(work, 'rerun.json'));
    expect(rerun.interrupted).toBeUndefined();
    for (const label of ok) expect(byLabel(rerun.stores)[label]?.status).toBe('unchanged');
    expect((await loadedStores()).sort()).toEqual(
      expected.stores
        .filter((s) => s.status === 'ok')
        .map((s) => `${s.user}/${s.collection}`)
        .sort(),
    );
    expect(await runStatus(rerun.runId)).toEqual([{ status: 'failed', finished: true }]);
    const after = (await runCli(['status', ...targetArgs(db), '--table', table, '--json'])).lines[0] as unknown as StatusLine;
    expect(after.unfinishedRuns).toEqual([]);
    expect(after.searchIndex).toBe('valid');
    // An unchanged store shows the rows of the load it skipped over, not 0.
    const [first] = ok;
    const unchanged = after.stores.find((o) => `${o.userId}/${o.collection}` === first);
    const texts = expected.stores.find((s) => `${s.user}/${s.collection}` === first)?.texts.length;
    expect(unchanged).toMatchObject({ status: 'unchanged', rowsLoaded: 0, rows: texts });
  }, 400_000); // PGlite opens take seconds each on a busy 2-core machine; six processes here

  it('SIGTERM exits 143 with the same interrupted run', async () => {
    const file = path.join(work, 'sigterm.json');
    let sent = false;
    const r = await spawnMigrate(args('--force', '--report', file), (e, child) => {
      if (!sent && e['type'] === 'store-progress') {
        sent = true;
        child.kill('SIGTERM');
      }
    });
    expect(r.code).toBe(143);
    const report = await readReport(file);
    expect(report.interrupted?.reason).toBe('SIGTERM');
    expect(await runStatus(report.runId)).toEqual([{ status: 'interrupted', finished: true }]);
    await loadedStores();
  });

  it('a second signal aborts at once with the same code; the store being written rolls back', async () => {
    let signals = 0;
    let current = '';
    // A table of its own: nothing in it is unchanged, so the first store really loads. Both
    // signals go while a store with many batches left is being embedded: the first at its first
    // batch, the second when the first is acknowledged (a fixed 50 ms delay raced a quiet machine,
    // where a small store was committed first and the run ended before the second signal).
    const r = await spawnMigrate(argsFor(fresh, ['--batch-size', '1']), (e, child) => {
      if (e['type'] === 'store-start') current = `${e['userId'] as string}/${e['collection'] as string}`;
      if (e['type'] !== 'store-progress' || signals > 0) return;
      if ((e['rowsTotal'] as number) >= 40 && (e['rowsDone'] as number) <= 2) {
        signals = 1;
        // The second as soon as the first is acknowledged, with most of the store still to embed.
        child.stderr?.on('data', (chunk: Buffer) => {
          if (signals === 1 && chunk.toString().includes('SIGINT: stopping after')) {
            signals = 2;
            child.kill('SIGINT');
          }
        });
        child.kill('SIGINT');
      }
    });
    expect(signals).toBe(2);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/SIGINT again: aborting now/);
    // The store being written when the second signal came was never committed.
    expect(current).not.toBe('');
    expect(await loadedStores(fresh)).not.toContain(current);
  });
});

describe('--report on exit 2 (real PostgreSQL)', () => {
  const table = `exit2_${process.pid}`;
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-exit2-'));
  });
  afterAll(async () => {
    await dropTable(TEST_DATABASE_URL, table);
    await rm(work, { recursive: true, force: true });
  });

  it('writes the report with the error when the run fails with exit 2', async () => {
    await withDb({ driver: 'pg', url: TEST_DATABASE_URL }, (q) => q(`CREATE TABLE "${table}" (id uuid PRIMARY KEY, embedding vector(3))`));
    const file = path.join(work, 'report.json');
    const r = await runCli(['migrate', path.join(SHARED_STORES, 'user_data'), '--users', 'bob', '--database-url', TEST_DATABASE_URL, '--table', table, '--model', TINY_MODEL, '--no-backup', '--report', file], {
      env: { ENCRYPTION_MASTER_KEY: MASTER_KEY },
    });
    expect(r.code).toBe(2);
    const report = await readReport(file);
    expect(report.error?.code).toMatch(/^E_/);
    expect(r.stderr).toContain(`error ${report.error?.code ?? ''}`);
  });
});

describe('Unix-socket database URLs (real PostgreSQL over /var/run/postgresql)', () => {
  const table = `socket_${process.pid}`;
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-socket-'));
    chmodSync(work, 0o777);
  });
  afterAll(async () => {
    await dropTable(TEST_DATABASE_URL, table);
    await rm(work, { recursive: true, force: true });
  });

  it('migrates through postgres://user@/db?host=/var/run/postgresql', async () => {
    const database = new URL(TEST_DATABASE_URL).pathname.slice(1);
    const url = `postgres://postgres@/${database}?host=/var/run/postgresql`;
    // The socket's peer authentication maps OS user postgres to role postgres: run the CLI as that
    // user (the tests run as root in CI); as any other user, pg_hba decides.
    const asPostgres = process.getuid?.() === 0 ? (spawnSync('id', ['-u', 'postgres']).stdout.toString().trim() || null) : null;
    const file = path.join(work, 'report.json');
    const cliArgs = ['migrate', path.join(SHARED_STORES, 'user_data'), '--users', 'alice_example_com', '--database-url', url, '--table', table, '--embeddings', 'keep', '--no-backup', '--report', file, '--json'];
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const uid = asPostgres === null ? {} : { uid: Number(asPostgres), gid: Number(spawnSync('id', ['-g', 'postgres']).stdout.toString().trim()) };
      const env: NodeJS.ProcessEnv = { ...process.env, ENCRYPTION_MASTER_KEY: MASTER_KEY, HOME: work };
      delete env.DATABASE_URL;
      const child = spawn(process.execPath, [CLI, ...cliArgs], { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'], ...uid });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.stderr).not.toMatch(/not a valid URL/);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(await readFile(file, 'utf8')) as Report & { database: { location: string } };
    expect(report.database.location).toBe(`/var/run/postgresql:5432/${database}`);
    const rows = await readRows({ driver: 'pg', url: TEST_DATABASE_URL }, table);
    expect(rows.length).toBe(40 + 12);
  });
});

describe('a PCA refit waiting for other loads of its table says so (real PostgreSQL)', () => {
  const table = `refitwait_${process.pid}`;
  const keepCarol = (...extra: string[]) => ['migrate', path.join(SHARED_STORES, 'user_data'), '--database-url', TEST_DATABASE_URL, '--table', table, '--users', 'carol_corp', '--embeddings', 'keep', '--no-backup', '--json', ...extra];
  afterAll(async () => {
    await dropTable(TEST_DATABASE_URL, table);
  });

  it('emits a waiting-table event while another session holds the table lock, and --no-wait fails with E_LOCKED instead', async () => {
    const env = { ENCRYPTION_MASTER_KEY: MASTER_KEY };
    expect((await runCli(keepCarol('--reduce', 'pca'), { env })).code).toBe(0);
    const pg = (await import('pg')).default;
    const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await holder.connect();
    try {
      // What a load of another store of this table holds for its whole transaction (src/sink/locks.ts).
      await holder.query('BEGIN');
      await holder.query(`SELECT pg_advisory_xact_lock_shared(hashtextextended('pgvector-migrate table oid ' || to_regclass($1)::oid::text, 0))`, [`"${table}"`]);
      const refused = await runCli(keepCarol('--refit-pca', '--pca-sample', '25', '--no-wait'), { env });
      expect(refused.code).toBe(1);
      const done = refused.lines.find((l) => l['type'] === 'run-done') as { report: { stores: ReportStore[] } } | undefined;
      expect(done?.report.stores[0]?.error?.message).toMatch(/being written by another run/);

      let waited = false;
      const r = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, [CLI, ...keepCarol('--refit-pca', '--pca-sample', '25')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] });
        onJsonLines<{ type: string }>(child.stdout, (l) => {
          if (l.type !== 'waiting-table' || waited) return;
          waited = true;
          void holder.query('COMMIT');
        });
        child.on('error', reject);
        child.on('close', resolve);
      });
      expect(waited).toBe(true);
      expect(r).toBe(0);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
  });
});
