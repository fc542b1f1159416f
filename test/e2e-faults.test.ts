/**
 * Faults against a real PostgreSQL server of the test's own (test/helpers/privatePg.ts), so that
 * killing its sessions or restarting it never disturbs the shared test server: a connection
 * terminated in the middle of a COPY, the server restarted mid-run, SIGKILL of the tool at random
 * points, and backup directories that cannot be written or are full.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pythonOracle, REPO, TINY_MODEL } from './helpers/cli.js';
import { seededRandom } from '../src/transform/random.js';
import { startPrivatePg, type PrivatePg } from './helpers/privatePg.js';
import { mountTmpfs, type Mounted } from './helpers/tmpfs.js';
import { storesDone, watchCli, type CliLine } from './helpers/watchCli.js';

interface SourceStore {
  label: string;
  texts: string[];
}

type StoredRow = {
  id: string;
  label: string;
  source_index: number;
  text: string;
};

let server: PrivatePg;
let work: string;
let root: string;
/** The stores of the big tree the tool must load (the generated tree also holds two that must fail). */
let big: SourceStore[];

async function query<R extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Every row of `table` by store, in source order; no table yet reads as no rows. */
async function tableRows(table: string): Promise<Map<string, StoredRow[]>> {
  const out = new Map<string, StoredRow[]>();
  const exists = await query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]);
  if (exists[0]?.t === null || exists[0]?.t === undefined) return out;
  const rows = await query<StoredRow>(`SELECT id::text AS id, user_id || '/' || collection_name AS label, source_index, text FROM "${table}" ORDER BY user_id, collection_name, source_index`);
  for (const r of rows) out.set(r.label, [...(out.get(r.label) ?? []), r]);
  return out;
}

/**
 * The table equals the source: every store's rows are its texts as Python reads them, at their
 * source index, ids unique. `emptyAllowed` stores may instead have no row at all (not loaded yet),
 * but never some of their rows.
 */
function expectEqualsSource(rows: Map<string, StoredRow[]>, context: string, emptyAllowed: (label: string) => boolean = () => false, source: SourceStore[] = big): void {
  const all = [...rows.values()].flat();
  expect(new Set(all.map((r) => r.id)).size, `${context}: duplicate ids`).toBe(all.length);
  const known = new Set(source.map((s) => s.label));
  expect([...rows.keys()].filter((l) => !known.has(l)), `${context}: rows of stores that must not load`).toEqual([]);
  for (const s of source) {
    const got = rows.get(s.label) ?? [];
    if (got.length === 0 && emptyAllowed(s.label)) continue;
    expect(
      got.map((r) => [r.source_index, r.text]),
      `${context}: ${s.label}`,
    ).toEqual(s.texts.map((t, i) => [i, t]));
  }
}

/**
 * A point well inside a big store, after another store was loaded (so the run has stores on both
 * sides of the fault). `seen` collects the lines so far.
 */
function midStore(line: CliLine, seen: CliLine[]): boolean {
  seen.push(line);
  const loaded = seen.some((l) => l.type === 'store-done' && l.store?.status === 'ok');
  return loaded && line.type === 'store-progress' && (line.rowsTotal ?? 0) >= 150 && (line.rowsDone ?? 0) >= 20;
}

const migrateArgs = (table: string, ...extra: string[]) => [
  'migrate',
  root,
  '--database-url',
  server.url,
  '--table',
  table,
  '--model',
  TINY_MODEL,
  '--no-backup',
  '--json',
  ...extra,
];

/** Generates a user_data tree with Python and reads it back with Python: the stores that must load and their texts. */
async function generate(dir: string, seed: number, users: number, maxEntries: number): Promise<SourceStore[]> {
  execFileSync('python3', [path.join(REPO, 'scripts/make_user_data.py'), '--out', dir, '--seed', String(seed), '--users', String(users), '--max-entries', String(maxEntries)]);
  const expected = JSON.parse(await readFile(path.join(dir, 'expected.json'), 'utf8')) as { stores: { user: string; collection: string; status: string }[] };
  const oracle = pythonOracle(path.join(dir, 'user_data'), null);
  return expected.stores
    .filter((s) => s.status === 'ok')
    .map((s) => {
      const label = `${s.user}/${s.collection}`;
      const read = oracle[label];
      if (read === undefined || 'error' in read) throw new Error(`Python cannot read ${label}, which make_user_data.py wrote as valid`);
      return { label, texts: read.texts.filter((t): t is string => t !== null) };
    });
}

beforeAll(async () => {
  server = await startPrivatePg();
  work = await mkdtemp(path.join(tmpdir(), 'pvm-faults-'));
  root = path.join(work, 'big', 'user_data');
  big = await generate(path.join(work, 'big'), 5, 4, 400);
}, 120_000);

afterAll(async () => {
  await server?.destroy();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('the connection killed in the middle of a COPY', () => {
  it('fails that store with E_CONNECT; the run goes on and loads the others; a re-run completes', async () => {
    const table = 'terminated';
    let victim = null as string | null;
    const seen: CliLine[] = [];
    let terminated = 0;
    const run = await watchCli(migrateArgs(table, '--batch-size', '2'), {
      onLine: async (line, child) => {
        if (victim !== null || !midStore(line, seen)) return;
        victim = `${line.userId}/${line.collection}`;
        // Stopped while its COPY is open, so a loaded machine cannot let the COPY end before the kill.
        child.kill('SIGSTOP');
        try {
          const killed = await query<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ~ '\\mCOPY\\M.*FROM STDIN' AND pg_terminate_backend(pid)",
          );
          terminated = killed.length;
        } finally {
          child.kill('SIGCONT');
        }
      },
    });
    expect(victim, 'no store was loading long enough to be interrupted').not.toBeNull();
    expect(terminated, 'the COPY session was not found in pg_stat_activity').toBe(1);
    const label = String(victim);
    expect(run.code).toBe(1);
    const done = storesDone(run.lines);
    expect(done.get(label)?.status).toBe('failed');
    expect(done.get(label)?.error?.code).toBe('E_CONNECT');
    expect(done.get(label)?.error?.message).toMatch(/terminating connection.*connection to the database server was lost.*re-run/);
    // Every other store was loaded, after the interrupted one as well as before it.
    for (const s of big.filter((x) => x.label !== label)) expect(done.get(s.label)?.status, s.label).toBe('ok');
    const order = run.lines.filter((l) => l.type === 'store-done' && l.store?.status === 'ok').map((l) => `${l.store?.userId}/${l.store?.collection}`);
    const failedAt = run.lines.findIndex((l) => l.type === 'store-done' && `${l.store?.userId}/${l.store?.collection}` === label);
    expect(run.lines.slice(failedAt).some((l) => l.type === 'store-done' && l.store?.status === 'ok'), `no store was loaded after ${label}: ${order.join(', ')}`).toBe(true);
    const rows = await tableRows(table);
    expect(rows.get(label) ?? []).toEqual([]);
    expectEqualsSource(rows, 'after the terminated COPY', (l) => l === label);

    const again = await watchCli(migrateArgs(table));
    expect(again.code).toBe(1); // the two stores the generated tree holds to fail
    expect(storesDone(again.lines).get(label)?.status).toBe('ok');
    expectEqualsSource(await tableRows(table), 'after the re-run');
  });
});

describe('the server restarted in the middle of a run', () => {
  it('gives a clear E_CONNECT error, exits without hanging, and a re-run completes', async () => {
    const table = 'restarted';
    let victim = null as string | null;
    const seen: CliLine[] = [];
    let stoppedAt = 0;
    let run;
    try {
      run = await watchCli(migrateArgs(table, '--batch-size', '2'), {
        timeoutMs: 60_000,
        onLine: (line) => {
          if (victim !== null || !midStore(line, seen)) return;
          victim = `${line.userId}/${line.collection}`;
          // Down until the tool has exited: whatever it tries next finds no server.
          server.stop('fast');
          stoppedAt = performance.now();
        },
      });
    } finally {
      if (victim !== null) server.start();
    }
    expect(victim, 'no store was loading long enough to be interrupted').not.toBeNull();
    const label = String(victim);
    const exitedAfter = performance.now() - stoppedAt;
    // It gave up on its own, promptly: no retry loop, no hang on a dead socket.
    expect(exitedAfter).toBeLessThan(30_000);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error E_CONNECT: .*connection to the database server was lost.*re-run/m);
    expect(run.lines.some((l) => l.type === 'run-done')).toBe(false);
    const failed = storesDone(run.lines).get(label);
    expect(failed?.status).toBe('failed');
    expect(failed?.error?.code).toBe('E_CONNECT');
    expect(failed?.error?.message).toMatch(/connection to the database server was lost.*re-run/);
    // What committed before the restart is whole; the interrupted store and the ones after it are absent.
    const loadedBefore = [...storesDone(run.lines).values()].filter((s) => s.status === 'ok').map((s) => `${s.userId}/${s.collection}`);
    expect(loadedBefore.length).toBeGreaterThan(0);
    const rows = await tableRows(table);
    expect(rows.get(label) ?? []).toEqual([]);
    expectEqualsSource(rows, 'after the restart', (l) => !loadedBefore.includes(l));
    for (const l of loadedBefore) expect(rows.get(l)?.length, l).toBeGreaterThan(0);

    const again = await watchCli(migrateArgs(table));
    expect(again.code).toBe(1); // the two stores the generated tree holds to fail
    for (const s of big) expect(['ok', 'unchanged'], s.label).toContain(storesDone(again.lines).get(s.label)?.status);
    expect(storesDone(again.lines).get(label)?.status).toBe('ok');
    expectEqualsSource(await tableRows(table), 'after the re-run');
  });
});


/** Where a kill landed, from the last progress line the tool printed before it. */
function phaseOf(last: CliLine | undefined, signal: NodeJS.Signals | null): string {
  if (signal !== 'SIGKILL') return 'after the run ended';
  if (last === undefined || last.type === 'validating') return 'start-up (model load, validation)';
  if (last.type === 'reduction' || last.type === 'run-start') return 'before the first store (schema, ledger)';
  if (last.type === 'store-start' || last.type === 'store-progress' || last.type === 'waiting') return 'in the middle of a store (COPY)';
  if (last.type === 'store-done') return last.store?.status === 'ok' ? 'between stores (ledger write)' : 'before the first store (schema, ledger)';
  return 'finishing the run';
}

describe('SIGKILL of the tool at random points, each followed by a re-run', () => {
  const RANDOM_TRIALS = 20;
  // Kill points no timing can be trusted to hit: right when these lines are printed.
  const TARGETED = ['run-start', 'store-start', 'store-done'] as const;
  let small: SourceStore[];
  let smallRoot: string;
  const args = (table: string, ...extra: string[]) => [
    'migrate', smallRoot, '--database-url', server.url, '--table', table, '--model', TINY_MODEL, '--no-backup', '--batch-size', '4', '--json', ...extra,
  ];
  beforeAll(async () => {
    small = await generate(path.join(work, 'small'), 11, 3, 60);
    smallRoot = path.join(work, 'small', 'user_data');
  }, 120_000);

  it('leaves every store equal to the source after the re-run: no duplicates, never a partial store', { timeout: 600_000 }, async () => {
    const seed = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`SIGKILL trials: FAULT_SEED=${seed}`);
    // The project's seeded generator, so a failing series of kill points can be replayed (FAULT_SEED).
    const random = seededRandom(seed);
    const equal = (rows: Map<string, StoredRow[]>, context: string, emptyAllowed: (l: string) => boolean = () => false) => expectEqualsSource(rows, context, emptyAllowed, small);

    // Reference runs measure how long a run takes, so that kill delays cover a whole run: a
    // fresh load, then a forced reload of the same table (which later trials also interrupt).
    const shared = 'killed_shared';
    const fresh = await watchCli(args(shared));
    expect(fresh.code, fresh.stderr).toBe(1); // the two stores the generated tree holds to fail
    // Row ids are derived from (user, collection, index, text): every later load must produce these.
    const ids = (rows: Map<string, StoredRow[]>) => [...rows.values()].flat().map((r) => r.id).sort();
    const referenceRows = await tableRows(shared);
    equal(referenceRows, 'reference load');
    const forced = await watchCli(args(shared, '--force'));
    expect(forced.code, forced.stderr).toBe(1);
    const reference = { fresh, forced };

    const phases = new Map<string, number>();
    const trials = [...Array.from({ length: RANDOM_TRIALS }, (_, i) => ({ n: i + 1, at: null as string | null })), ...TARGETED.map((at, i) => ({ n: RANDOM_TRIALS + i + 1, at }))];
    for (const trial of trials) {
      // Odd trials load an empty table (a store is then all or nothing); even ones interrupt a
      // forced reload of a complete table (every store must stay complete, old rows or new).
      const onFresh = trial.n % 2 === 1;
      const table = onFresh ? `killed_${trial.n}` : shared;
      // A random point of the reference run, in progress rather than in milliseconds (the machine's
      // load varies): every third trial a delay before its first line (start-up, model load), the
      // others a random line (any stage: schema, COPY, between stores, ledger) plus a random part
      // of the time the reference run took to print the next one.
      const ref = reference[onFresh ? 'fresh' : 'forced'];
      const lastIndex = ref.lines.findIndex((l) => l.type === 'run-done');
      const startUp = trial.n % 3 === 0;
      const afterLine = startUp ? -1 : Math.floor(random() * lastIndex);
      const gap = startUp ? (ref.times[0] ?? 0) : (ref.times[afterLine + 1] ?? 0) - (ref.times[afterLine] ?? 0);
      const delay = random() * gap;
      const point = trial.at ?? (startUp ? `${Math.round(delay)} ms after spawn` : `${Math.round(delay)} ms after line ${afterLine} (${ref.lines[afterLine]?.type})`);
      let timer: NodeJS.Timeout | undefined;
      let seen = 0;
      const killed = await watchCli(onFresh ? args(table) : args(table, '--force'), {
        onSpawn: (child) => {
          if (trial.at === null && startUp) timer = setTimeout(() => child.kill('SIGKILL'), delay);
        },
        onLine: (line, child) => {
          if (trial.at === null && seen++ === afterLine) timer = setTimeout(() => child.kill('SIGKILL'), delay);
          if (line.type === trial.at && (line.type !== 'store-done' || line.store?.status === 'ok')) child.kill('SIGKILL');
        },
      });
      clearTimeout(timer);
      const last = killed.lines.at(-1);
      const phase = phaseOf(last, killed.signal);
      phases.set(phase, (phases.get(phase) ?? 0) + 1);
      const context = `trial ${trial.n} (seed ${seed}, ${onFresh ? 'empty table' : 'forced reload'}, ${point}, ${phase})`;
      if (trial.at !== null) expect(killed.signal, context).toBe('SIGKILL');
      if (killed.signal !== 'SIGKILL') expect(killed.code, `${context}: ${killed.stderr}`).toBe(1);
      // Before the re-run: a store is all there or not at all.
      equal(await tableRows(table), `${context}, after the kill`, (l) => onFresh && !l.startsWith('\0'));

      const rerun = await watchCli(args(table));
      expect(rerun.code, `${context}, re-run: ${rerun.stderr}`).toBe(1);
      const outcomes = [...storesDone(rerun.lines).values()].map((d) => `${d.userId}/${d.collection} ${d.status} ${d.rowsLoaded} ${d.error?.code ?? ''}`).join('; ');
      const final = await tableRows(table);
      equal(final, `${context}, after the re-run (${outcomes})`);
      expect(ids(final), `${context}: row ids differ from the reference load`).toEqual(ids(referenceRows));
      if (onFresh) await query(`DROP TABLE IF EXISTS "${table}_previous", "${table}"`);
    }
    console.log(`SIGKILL trials (seed ${seed}): ${[...phases.entries()].map(([p, n]) => `${n} ${p}`).join('; ')}`);
    const count = (prefix: string) => [...phases.entries()].filter(([p]) => p.startsWith(prefix)).reduce((n, [, k]) => n + k, 0);
    // The random delays spread over the whole run: most trials really killed it, some in the middle of a store.
    expect(count('after'), 'too few trials killed the tool').toBeLessThanOrEqual(Math.floor(RANDOM_TRIALS / 4));
    expect(count('in the middle')).toBeGreaterThanOrEqual(3);
    expect(count('between')).toBeGreaterThanOrEqual(1);
  });
});

describe('a backup directory that cannot take the backup', () => {
  const mounts: Mounted[] = [];
  const USERS = 'user1_example_com,user2_x-y,user3_x-y';
  const args = (table: string, backupDir: string) => [
    'migrate', root, '--database-url', server.url, '--table', table, '--model', TINY_MODEL, '--backup-dir', backupDir, '--users', USERS, '--json',
  ];
  const chosen = () => big.filter((s) => USERS.split(',').some((u) => s.label.startsWith(`${u}/`)));
  afterAll(() => {
    for (const m of mounts) m.unmount();
  });

  it.each([
    ['a read-only file system (EROFS, which root cannot override)', 'read-only'],
    ['a path below a regular file (ENOTDIR)', 'below-a-file'],
  ] as const)('%s: every store fails with E_BACKUP before any of its rows is loaded; the run goes on; a re-run completes', async (_name, kind) => {
    const table = `backup_${kind.replace('-', '_').replace('-', '_')}`;
    let backupDir: string;
    if (kind === 'read-only') {
      const m = await mountTmpfs(path.join(work, 'ro-backup'), { sizeKb: 1024, readOnly: true });
      mounts.push(m);
      backupDir = m.dir;
    } else {
      await writeFile(path.join(work, 'a-file'), 'not a directory');
      backupDir = path.join(work, 'a-file', 'backups');
    }
    const run = await watchCli(args(table, backupDir));
    expect(run.code, run.stderr).toBe(1);
    const done = storesDone(run.lines);
    for (const s of chosen()) {
      expect(done.get(s.label)?.error?.code, s.label).toBe('E_BACKUP');
      expect(done.get(s.label)?.error?.message).toMatch(kind === 'read-only' ? /not writable/ : /not a directory/i);
    }
    expect(run.lines.some((l) => l.type === 'run-done'), 'the run did not finish').toBe(true);
    expect([...(await tableRows(table)).values()].flat()).toEqual([]);

    const again = await watchCli(args(table, path.join(work, 'backups')));
    expect(again.code, again.stderr).toBe(0);
    expectEqualsSource(await tableRows(table), 'after the re-run', (l) => !chosen().some((s) => s.label === l));
  });

  it('a full file system (ENOSPC): the store whose copy does not fit fails with E_BACKUP and none of its rows; the others load', async () => {
    const table = 'backup_full';
    // 1 MiB: room for the small stores' files, not for user3_x-y/personal_assistant (5 MB).
    const m = await mountTmpfs(path.join(work, 'full-backup'), { sizeKb: 1024 });
    mounts.push(m);
    const big3 = 'user3_x-y/personal_assistant';
    const run = await watchCli(args(table, m.dir));
    expect(run.code, run.stderr).toBe(1);
    const done = storesDone(run.lines);
    expect(done.get(big3)?.error?.code).toBe('E_BACKUP');
    expect(done.get(big3)?.error?.message).toMatch(/disk is full/);
    // The half-written copy was removed, so the store after it still had room for its backup.
    const others = chosen().filter((s) => s.label !== big3);
    for (const s of others) expect(done.get(s.label)?.status, s.label).toBe('ok');
    const rows = await tableRows(table);
    expect(rows.get(big3) ?? []).toEqual([]);
    expectEqualsSource(rows, 'with a full backup disk', (l) => l === big3 || !chosen().some((s) => s.label === l));
    const stamp = (await readdir(m.dir))[0] ?? '';
    expect((await readdir(path.join(m.dir, stamp, 'user3_x-y')))).toEqual(['work-docs']);

    const again = await watchCli(args(table, path.join(work, 'backups')));
    expect(again.code, again.stderr).toBe(0);
    expectEqualsSource(await tableRows(table), 'after the re-run', (l) => !chosen().some((s) => s.label === l));
  });
});
