/**
 * Every real FAISS, LlamaIndex (Python and TS) and Chroma store of ../shared/testdata/real-stores
 * through the built CLI into PostgreSQL and PGlite: keep mode per store (its own dimensions),
 * re-embed mode over the whole set with the tiny model, texts byte-exact against Python's own
 * reading of each store (scripts/read_faiss_store.py, test/llamaindex_reference.py,
 * scripts/read_chroma.py), verify, re-runs, rollback, --dry-run, and --user/--layout ownership.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { v5 as uuidv5 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROW_ID_NAMESPACE } from '../src/transform/rowId.js';
import { dropTablesLike, REPO, runCli, TEST_DATABASE_URL, targetArgs, TINY_MODEL, withDb, type CliResult, type Target } from './helpers/cli.js';
import { SHARED_TESTDATA } from './helpers/paths.js';

const REAL = path.join(SHARED_TESTDATA, 'real-stores');

interface SourceEntry {
  format: 'faiss' | 'llamaindex-py' | 'llamaindex-ts' | 'chroma';
  local_dir: string;
  facts: { document_count?: number; vector_count?: number; dimensions: number | number[]; row_counts?: { embeddings: number } };
}
const STORES = (JSON.parse(readFileSync(path.join(REAL, 'SOURCES.json'), 'utf8')) as { stores: SourceEntry[] }).stores;

/** The number of documents SOURCES.json measured (Chroma: live embeddings). */
function measured(s: SourceEntry): number {
  const n = s.format === 'faiss' ? s.facts.document_count : s.format === 'chroma' ? s.facts.row_counts?.embeddings : s.facts.vector_count;
  if (n === undefined) throw new Error(`SOURCES.json has no count for ${s.local_dir}`);
  return n;
}

function cliFormat(s: SourceEntry): string {
  return s.format.startsWith('llamaindex') ? 'llamaindex' : s.format;
}

function python(script: string, dir: string): unknown {
  return JSON.parse(execFileSync('python3', [path.join(REPO, script), dir], { encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, PYTHONHASHSEED: '0' } }));
}

/** Python's reading of a store: collection as the format names it -> [id, text] of each document with text. */
function pythonDocuments(s: SourceEntry): Map<string, [string, string][]> {
  const dir = path.join(REAL, s.local_dir);
  const out = new Map<string, [string, string][]>();
  if (s.format === 'faiss') {
    const r = python('scripts/read_faiss_store.py', dir) as { records: { sourceId: string; text: string }[] };
    out.set('', r.records.map((d) => [d.sourceId, d.text]));
  } else if (s.format === 'chroma') {
    const r = python('scripts/read_chroma.py', dir) as Record<string, { records: { id: string; text: string | null }[] }>;
    for (const [name, c] of Object.entries(r)) out.set(name, c.records.filter((d) => d.text !== null && d.text !== '').map((d) => [d.id, d.text as string]));
  } else {
    const r = python('test/llamaindex_reference.py', dir) as { collections: Record<string, { id: string; text: string }[]> };
    for (const [name, c] of Object.entries(r.collections)) if (c.length > 0) out.set(name, c.map((d) => [d.id, d.text]));
  }
  return out;
}

/** Row id -> text the table must hold for a store owned by `user` under collection prefix `prefix`. */
function expectedRows(s: SourceEntry, user: string, prefix: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const [name, docs] of pythonDocuments(s)) {
    const collection = name === '' ? prefix : `${prefix}.${name}`;
    for (const [id, text] of docs) rows.set(uuidv5(`${user}\u0000${collection}\u0000${id}`, ROW_ID_NAMESPACE), text);
  }
  return rows;
}

/** The collection prefix of a real store found by a walk from REAL: its path, "/" and "__" as "_". */
function walkedPrefix(s: SourceEntry): string {
  return s.local_dir.split('/').join('_').replace(/_+/g, '_');
}

async function tableRows(target: Target, table: string): Promise<Map<string, string>> {
  const rows = await withDb(target, (q) => q<{ id: string; text: string }>(`SELECT id::text AS id, text FROM "${table}"`));
  return new Map(rows.map((r) => [r.id, r.text]));
}

function runDone(r: CliResult): { runId: string; totals: Record<string, number>; stores: { collection: string; status: string; rowsPlanned: number; error: { code: string; message: string } | null }[] } {
  const done = r.lines.find((l) => l['type'] === 'run-done');
  if (done === undefined) throw new Error(`no run-done line (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  return done['report'] as ReturnType<typeof runDone>;
}

function expectSameRows(actual: Map<string, string>, expected: Map<string, string>): void {
  expect(actual.size).toBe(expected.size);
  for (const [id, text] of expected) expect(actual.get(id), `row ${id}`).toBe(text);
}

const totalMeasured = STORES.reduce((n, s) => n + measured(s), 0);

describe.each(['pglite', 'pg'] as const)('real third-party stores through the CLI (%s)', (driver) => {
  let work: string;
  let target: Target;
  const prefix = `fmt_${driver}_${process.pid}_`;

  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'pgvm-formats-'));
    target = driver === 'pg' ? { driver: 'pg', url: TEST_DATABASE_URL } : { driver: 'pglite', dir: path.join(work, 'pglite') };
  });
  afterAll(async () => {
    if (driver === 'pg') await dropTablesLike(TEST_DATABASE_URL, prefix);
    rmSync(work, { recursive: true, force: true });
  });

  it.each(STORES.map((s, i) => [s.local_dir, s, i] as const))('keep mode: %s loads what Python reads, verifies, and a re-run is unchanged', async (_name, s, i) => {
    const dir = path.join(REAL, s.local_dir);
    const table = `${prefix}keep_${i}`;
    const args = ['migrate', dir, '--user', 'alice', '--embeddings', 'keep', '--no-backup', '--table', table, '--json', ...targetArgs(target)];
    const first = await runCli(args);
    expect(first.code, first.stderr).toBe(0);
    const expected = expectedRows(s, 'alice', path.basename(dir));
    expect(expected.size).toBe(measured(s));
    expect(runDone(first).totals['rowsLoaded']).toBe(measured(s));
    expectSameRows(await tableRows(target, table), expected);

    const verify = await runCli(['verify', dir, '--source', cliFormat(s), '--user', 'alice', '--embeddings', 'keep', '--table', table, '--json', ...targetArgs(target)]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);

    const again = runDone(await runCli(args));
    expect(again.totals['rowsLoaded']).toBe(0);
    expect(again.stores.filter((st) => st.status !== 'skipped').map((st) => st.status)).toEqual(Array.from(pythonDocuments(s).keys(), () => 'unchanged'));
  });

  // About 10 CLI runs over all 14 stores, re-embedding 390 texts each time a run loads.
  it('re-embed mode: every real store at once (one owner by --user), dry run, verify, re-run, rollback', async () => {
    const table = `${prefix}reembed`;
    const base = ['migrate', REAL, '--user', 'alice', '--model', TINY_MODEL, '--no-backup', '--table', table, '--json', ...targetArgs(target)];
    const dry = runDone(await runCli([...base, '--dry-run']));
    expect(dry.totals['rowsPlanned']).toBe(totalMeasured);
    expect(dry.totals['failed']).toBe(0);

    const first = await runCli(base);
    expect(first.code, first.stderr).toBe(0);
    const report = runDone(first);
    expect(report.totals['rowsLoaded']).toBe(totalMeasured);
    const expected = new Map(STORES.flatMap((s) => [...expectedRows(s, 'alice', walkedPrefix(s))]));
    expectSameRows(await tableRows(target, table), expected);

    for (const format of ['faiss', 'llamaindex', 'chroma']) {
      const v = await runCli(['verify', REAL, '--source', format, '--user', 'alice', '--model', TINY_MODEL, '--table', table, '--json', ...targetArgs(target)]);
      expect(v.code, `${format}: ${v.stdout} ${v.stderr}`).toBe(0);
    }

    const again = runDone(await runCli(base));
    expect(again.totals['unchanged']).toBe(report.totals['ok']);
    expect(again.totals['rowsLoaded']).toBe(0);

    const rollback = await runCli(['rollback', '--table', table, '--run', report.runId, '--json', ...targetArgs(target)]);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect((await tableRows(target, table)).size).toBe(0);
   }, 1_200_000);

  it('--layout maps tenants/{user}/faiss_index to owners; a directory that is no sanitized id is skipped', async () => {
    const root = path.join(work, 'tenants-root');
    const faiss = STORES.find((s) => s.format === 'faiss') as SourceEntry;
    for (const user of ['carol', 'dave', 'Not A User']) cpSync(path.join(REAL, faiss.local_dir), path.join(root, 'tenants', user, 'faiss_index'), { recursive: true });
    const table = `${prefix}layout`;
    const r = await runCli(['migrate', root, '--layout', 'tenants/{user}/faiss_index', '--embeddings', 'keep', '--no-backup', '--table', table, '--json', ...targetArgs(target)]);
    expect(r.code, r.stderr).toBe(0);
    const report = runDone(r);
    expect(report.stores.filter((s) => s.status === 'skipped').map((s) => s.error?.message)).toEqual([expect.stringContaining('not a sanitized user id')]);
    const expected = new Map([...expectedRows(faiss, 'carol', 'faiss_index'), ...expectedRows(faiss, 'dave', 'faiss_index')]);
    expectSameRows(await tableRows(target, table), expected);
  });

  it('refuses a --layout that would leave the root, and a directory matching two formats names both', async () => {
    for (const layout of ['../{user}', '/etc/{user}', 'a/../../{user}']) {
      const r = await runCli(['migrate', REAL, '--layout', layout, '--embeddings', 'keep', '--no-backup', '--json', ...targetArgs(target)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('E_USAGE');
      expect(r.stderr).toContain('would leave the root');
    }
    const both = path.join(work, 'both', 'store');
    mkdirSync(both, { recursive: true });
    const faiss = STORES.find((s) => s.format === 'faiss') as SourceEntry;
    const chroma = STORES.find((s) => s.format === 'chroma') as SourceEntry;
    cpSync(path.join(REAL, faiss.local_dir), both, { recursive: true });
    cpSync(path.join(REAL, chroma.local_dir), both, { recursive: true });
    const r = await runCli(['migrate', path.join(work, 'both'), '--user', 'alice', '--model', TINY_MODEL, '--no-backup', '--table', `${prefix}both`, '--json', ...targetArgs(target)]);
    const [store] = runDone(r).stores;
    expect(store?.status).toBe('failed');
    expect(store?.error?.code).toBe('E_FORMAT');
    expect(store?.error?.message).toMatch(/faiss and chroma/);
  });
});
