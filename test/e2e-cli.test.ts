import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropTable,
  pythonOracle,
  readRows,
  runCli,
  SHARED_STORES,
  TEST_DATABASE_URL,
  targetArgs,
  tableExists,
  TINY_MODEL,
  type DbRow,
  type Target,
} from './helpers/cli.js';

interface Case {
  user: string;
  collection: string;
  entries: number;
  expect: string;
}

interface ReportStore {
  userId: string;
  collection: string;
  path: string;
  status: string;
  vectors: number | null;
  entries: number | null;
  rowsLoaded: number;
  rowsPlanned: number;
  rowsSkipped: number;
  skippedEntries: { index: number; reason: string }[];
  warnings: string[];
  error: { code: string; message: string } | null;
  backupPath: string | null;
}

interface Report {
  runId: string;
  dryRun: boolean;
  model: string;
  dimensions: number;
  stores: ReportStore[];
  estimate: { sampleSize: number; docsPerSecond: number } | null;
}

const ROOT = path.join(SHARED_STORES, 'user_data');
const CASES = JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string; cases: Case[] };
const MASTER_KEY = CASES.master_key;
const ORACLE = pythonOracle(ROOT, MASTER_KEY);

/** What each failing store of CASES.json must fail with. */
const FAILURES: Record<string, string> = {
  'dave/personal_assistant': 'E_COUNT_MISMATCH',
  'erin/personal_assistant': 'E_DECRYPT',
  'heidi/personal_assistant': 'E_MISSING_FILE',
  'ivan/personal_assistant': 'E_UNSAFE_PICKLE',
};

function expectedTexts(key: string): { index: number; text: string }[] {
  const o = ORACLE[key];
  if (o === undefined || !('texts' in o)) throw new Error(`oracle has no texts for ${key}`);
  return o.texts.flatMap((t, index) => (t === null || t.replace(/\u0000/g, '') === '' ? [] : [{ index, text: t.replace(/\u0000/g, '') }]));
}

function byStore(rows: DbRow[]): Map<string, DbRow[]> {
  const m = new Map<string, DbRow[]>();
  for (const r of rows) {
    const k = `${r.user_id}/${r.collection_name}`;
    m.set(k, [...(m.get(k) ?? []), r]);
  }
  return m;
}

const PWNED = '/tmp/pwned';

describe.each(['pglite', 'pg'] as const)('migrate on the shared python-stores (%s)', (driver) => {
  let work: string;
  let target: Target;
  const table = `e2e_${driver}_${process.pid}`;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), `pvm-e2e-${driver}-`));
    target = driver === 'pg' ? { driver, url: TEST_DATABASE_URL } : { driver, dir: path.join(work, 'pglite') };
    if (target.driver === 'pg') await dropTable(target.url, table);
    await rm(PWNED, { force: true });
  });

  afterAll(async () => {
    if (target.driver === 'pg') await dropTable(target.url, table);
    await rm(work, { recursive: true, force: true });
  });

  const common = () => [...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--backup-dir', path.join(work, 'backup')];

  it('dry run: validates everything, estimates, and writes nothing (no database, table, row or backup)', async () => {
    const reportPath = path.join(work, 'dry.json');
    const r = await runCli(['migrate', ROOT, '--dry-run', ...common(), '--report', reportPath], { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1); // the failing stores of CASES.json fail in a dry run too
    const report = JSON.parse(await readFile(reportPath, 'utf8')) as Report;
    expect(report.dryRun).toBe(true);
    const alice = report.stores.find((s) => s.userId === 'alice_example_com' && s.collection === 'personal_assistant');
    expect(alice).toMatchObject({ status: 'ok', rowsPlanned: 40, rowsLoaded: 0 });
    expect(report.stores.find((s) => s.userId === 'dave')?.error?.code).toBe('E_COUNT_MISMATCH');
    expect(report.estimate?.sampleSize).toBeGreaterThan(0);
    expect(report.estimate?.docsPerSecond).toBeGreaterThan(0);
    expect(existsSync(path.join(work, 'backup'))).toBe(false);
    if (target.driver === 'pglite') expect(existsSync(target.dir)).toBe(false);
    else expect(await tableExists(target, table)).toBe(false);
  });

  let firstIds: Map<string, string>;

  it('loads every ok store of CASES.json exactly, fails the broken ones with their codes, skips the invalid directory', async () => {
    const reportPath = path.join(work, 'run1.json');
    const r = await runCli(['migrate', ROOT, ...common(), '--master-key', MASTER_KEY, '--report', reportPath]);
    expect(r.code).toBe(1);
    const report = JSON.parse(await readFile(reportPath, 'utf8')) as Report;
    expect(report.dryRun).toBe(false);
    expect(report.stores).toHaveLength(CASES.cases.length);
    expect(existsSync(PWNED)).toBe(false);

    const rows = await readRows(target, table);
    const stores = byStore(rows);
    for (const c of CASES.cases) {
      const key = `${c.user}/${c.collection}`;
      if (c.user === 'not a valid id') {
        const s = report.stores.find((x) => x.userId === c.user);
        expect(s?.status).toBe('skipped');
        expect(s?.warnings.join(' ')).toMatch(/sanitized|user id/i);
        continue;
      }
      const s = report.stores.find((x) => x.userId === c.user && x.collection === c.collection);
      expect(s, key).toBeDefined();
      if (s === undefined) continue;
      expect(s.path).toBe(`${c.user}/vector_store_${c.collection}`);
      const code = FAILURES[key];
      if (code !== undefined) {
        expect(s.status, key).toBe('failed');
        expect(s.error?.code, key).toBe(code);
        expect(s.rowsLoaded).toBe(0);
        expect(stores.get(key) ?? [], key).toHaveLength(0);
        continue;
      }
      expect(s.status, `${key}: ${s.error?.message}`).toBe('ok');
      expect(s.entries, key).toBe(c.entries);
      expect(s.vectors, key).toBe(c.entries);
      const want = expectedTexts(key);
      const got = stores.get(key) ?? [];
      expect(s.rowsLoaded, key).toBe(want.length);
      expect(s.rowsSkipped, key).toBe(c.entries - want.length);
      expect(got.map((g) => ({ index: g.source_index, text: g.text })), key).toEqual(want);
      for (const g of got) {
        expect(g.user_id).toBe(c.user);
        expect(g.dims).toBe(report.dimensions);
        expect(g.embedding_model).toBe(report.model);
        expect(Object.keys(g.metadata)).not.toContain('text');
      }
      expect(s.backupPath, key).not.toBeNull();
    }
    // Store-specific expectations from CASES.json.
    const grace = report.stores.find((s) => s.userId === 'grace');
    expect(grace).toMatchObject({ rowsLoaded: 3, rowsSkipped: 1, skippedEntries: [{ index: 3, reason: expect.stringContaining('empty') }] });
    const frank = report.stores.find((s) => s.userId === 'frank');
    expect(frank?.warnings.join(' ')).toMatch(/U\+0000/);
    const judy = report.stores.find((s) => s.userId === 'judy');
    expect(judy).toMatchObject({ status: 'ok', rowsLoaded: 0, entries: 0, vectors: 0 });
    const ivan = report.stores.find((s) => s.userId === 'ivan');
    expect(ivan?.error?.message).toContain('posix.system');
    // vectors/entries are counted even for failing stores.
    expect(report.stores.find((s) => s.userId === 'dave')).toMatchObject({ vectors: 5, entries: 6 });
    expect(rows.length).toBe(40 + 12 + 25 + 30 + 5 + 3);
    expect(new Set(rows.map((x) => x.id)).size).toBe(rows.length);
    firstIds = new Map(rows.map((x) => [`${x.user_id}/${x.collection_name}/${x.source_index}`, x.id]));

    // The backups hold a verified copy with a manifest.
    const backupRuns = await readdir(path.join(work, 'backup'));
    expect(backupRuns).toHaveLength(1);
    const manifest = JSON.parse(await readFile(path.join(work, 'backup', backupRuns[0] ?? '', 'bob', 'personal_assistant', 'manifest.json'), 'utf8'));
    expect(manifest.files.map((f: { name: string }) => f.name).sort()).toEqual(['metadata.json', 'vectors.pkl']);
  });

  it('a re-run changes no id and duplicates nothing', async () => {
    const r = await runCli(['migrate', ROOT, ...common(), '--no-backup', '--json'], { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(r.code).toBe(1);
    const rows = await readRows(target, table);
    const ids = new Map(rows.map((x) => [`${x.user_id}/${x.collection_name}/${x.source_index}`, x.id]));
    expect(ids).toEqual(firstIds);
    const done = r.lines.find((l) => l.type === 'run-done');
    expect(done).toBeDefined();
  });

  it('--users limits the run to those users and leaves the others untouched', async () => {
    const r = await runCli(['migrate', ROOT, ...common(), '--no-backup', '--users', 'bob,grace'], { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(r.code).toBe(0);
    const done = r.lines.find((l) => l.type === 'run-done') as { report: Report } | undefined;
    expect(done?.report.stores.map((s) => s.userId).sort()).toEqual(['bob', 'grace']);
    expect((await readRows(target, table)).length).toBe(115);
  });

  it("query returns the user's own rows only, the stored text itself first", async () => {
    const text = expectedTexts('bob/personal_assistant')[4]?.text ?? '';
    const r = await runCli(['query', ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--user', 'bob', '-k', '5', '--json', text]);
    expect(r.code).toBe(0);
    const out = r.lines[0] as { hits: { userId: string; text: string; distance: number }[] };
    expect(out.hits).toHaveLength(5);
    expect(out.hits.every((h) => h.userId === 'bob')).toBe(true);
    expect(out.hits[0]?.text).toBe(text);
    expect(out.hits[0]?.distance).toBeLessThan(1e-4);
    const none = await runCli(['query', ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--user', 'nobody', '--json', text]);
    expect((none.lines[0] as { hits: unknown[] }).hits).toEqual([]);
  });

  it('never prints the master key or the database password', async () => {
    const r = await runCli(['migrate', ROOT, ...common(), '--no-backup', '--users', 'erin', '--master-key', MASTER_KEY]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).not.toContain(MASTER_KEY);
    expect(r.stdout + r.stderr).not.toContain('postgres:postgres@');
  });
});

describe('usage, configuration and connection errors exit with 2', () => {
  it('an unknown option', async () => {
    expect((await runCli(['migrate', ROOT, '--no-such-flag'])).code).toBe(2);
  });
  it('no command at all (help is printed), while --help itself succeeds', async () => {
    expect((await runCli([])).code).toBe(2);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/migrate \[options\] \[root\]/);
  });
  it('a root that does not exist', async () => {
    const r = await runCli(['migrate', '/nonexistent/user_data', '--model', TINY_MODEL, '--dry-run', '--pglite-dir', path.join(tmpdir(), 'pvm-none')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_USAGE/);
  });
  it('an unreachable database, without printing its password', async () => {
    const r = await runCli(['migrate', ROOT, '--model', TINY_MODEL, '--dry-run', '--database-url', 'postgres://someone:s3cretpw@127.0.0.1:1/none']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_CONNECT/);
    expect(r.stderr).not.toContain('s3cretpw');
  });
  it('a model that is neither a directory nor in the cache, offline', async () => {
    const r = await runCli(['migrate', ROOT, '--model', 'Xenova/does-not-exist', '--offline', '--dry-run', '--pglite-dir', path.join(tmpdir(), 'pvm-none')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_MODEL/);
  });
});
