/**
 * The original application keeps working on the tables this tool makes: its own INSERT, search and
 * delete statements (../shared/CLIENTS.md, verbatim), each on a fresh connection with default
 * settings, on a `--reduce truncate` table made from 3072-dimension vectors and on a plain
 * vector(D) table; and the rows it writes survive every re-run and rollback of the tool.
 * Stored vectors and texts come from Python's own pickle/Fernet reading (scripts/read_user_data.py).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTable, pythonVectors, REPO, runCli, SHARED_STORES, TEST_DATABASE_URL, targetArgs, TINY_MODEL, withDb, type Target } from './helpers/cli.js';

const SOURCE_ROOT = path.join(SHARED_STORES, 'user_data');
const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const PY = pythonVectors(SOURCE_ROOT, MASTER_KEY);
const env = { ENCRYPTION_MASTER_KEY: MASTER_KEY };

// The original app's statements, as CLIENTS.md gives them (psycopg2 placeholders).
const APP_INSERT = `INSERT INTO vector_documents (id, user_id, collection_name, text, embedding, metadata)
VALUES (%s, %s, %s, %s, %s::vector, %s::jsonb)`;
const APP_SEARCH = `SELECT id, text, metadata, 1 - (embedding <=> %s::vector) AS similarity
FROM vector_documents
WHERE user_id = %s AND collection_name = %s
ORDER BY embedding <=> %s::vector ASC
LIMIT %s`;
const APP_DELETE_IDS = `DELETE FROM vector_documents WHERE id = ANY(%s::uuid[]) AND user_id = %s AND collection_name = %s`;
const APP_DELETE_SOURCE = `DELETE FROM vector_documents WHERE user_id = %s AND collection_name = %s AND (metadata->>'source' = %s OR (metadata->>'source' IS NULL AND text LIKE %s))`;

/** psycopg2's %s placeholders as the server's $n (node-postgres and PGlite send them as text parameters), on the test's table. */
function statement(sql: string, table: string): string {
  let n = 0;
  return sql.replaceAll('vector_documents', `"${table}"`).replace(/%s/g, () => `$${++n}`);
}

/** How the app sends a vector: the text '[x1,x2,...]'. */
function vectorText(v: readonly number[]): string {
  return `[${v.join(',')}]`;
}

function stored(key: string): { texts: (string | null)[]; vectors: number[][] } {
  const s = PY[key];
  if (s === undefined || !('vectors' in s)) throw new Error(`no vectors for ${key}`);
  return s;
}

/** One statement on a connection of its own, opened with default settings (pg) or a fresh PGlite instance. */
function app<R>(target: Target, sql: string, params: unknown[]): Promise<R[]> {
  return withDb(target, (q) => q<R>(sql, params));
}

interface SearchRow {
  id: string;
  text: string;
  metadata: Record<string, unknown>;
  similarity: number;
}

function appSearch(target: Target, table: string, userId: string, collection: string, query: readonly number[], k = 5): Promise<SearchRow[]> {
  const q = vectorText(query);
  return app<SearchRow>(target, statement(APP_SEARCH, table), [q, userId, collection, q, k]);
}

/** A new note as the app writes it: uuid4 id, metadata carrying text and timestamp. */
async function appInsert(target: Target, table: string, userId: string, collection: string, text: string, embedding: readonly number[], extra: Record<string, unknown> = {}): Promise<string> {
  const id = randomUUID();
  const metadata = JSON.stringify({ ...extra, text, timestamp: '2026-12-01T12:00:00' });
  await app(target, statement(APP_INSERT, table), [id, userId, collection, text, vectorText(embedding), metadata]);
  return id;
}

/** Every column of one row, as text: a byte-exact before/after comparison. */
async function rowSnapshot(target: Target, table: string, id: string): Promise<Record<string, unknown>[]> {
  return withDb(target, (q) =>
    q<Record<string, unknown>>(
      `SELECT id::text, user_id, collection_name, text, embedding::text AS embedding, metadata::text AS metadata, created_at::text, updated_at::text,
              content_sha256, embedding_model, source_index, pca_model_id::text, embedding_fingerprint
         FROM "${table}" WHERE id = $1`,
      [id],
    ),
  );
}

async function toolRows(target: Target, table: string, userId: string): Promise<number> {
  const rows = await withDb(target, (q) => q<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}" WHERE user_id = $1 AND source_index IS NOT NULL`, [userId]));
  return Number(rows[0]?.n);
}

/** A deterministic vector of `dims` numbers in [-0.5, 0.5) (a note the app embeds itself). */
function noteVector(seed: number, dims: number): number[] {
  let x = seed >>> 0 || 1;
  return Array.from({ length: dims }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return Math.fround(x / 0xffffffff - 0.5);
  });
}

function unit(v: readonly number[]): number[] {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / n);
}

interface Report {
  runId: string;
  reduction: { method: string; sourceDimensions: number; targetDimensions: number; explainedVariance: number; recallAt10: number | null; sampleSize: number | null; evaluation: string | null };
  stores: { userId: string; collection: string; status: string; rowsLoaded: number; error: { code: string } | null }[];
}

const report = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as Report;

describe.each(['pg', 'pglite'] as const)('the original app on a --reduce truncate table of 3072-d vectors (%s)', (driver) => {
  let work: string;
  let target: Target;
  const table = `app_trunc_${driver}_${process.pid}`;
  const pcaTable = `app_pca_${driver}_${process.pid}`;
  const carol = stored('carol_corp/personal_assistant');
  const migrate = (...extra: string[]) =>
    runCli(['migrate', SOURCE_ROOT, ...targetArgs(target), '--table', table, '--users', 'carol_corp', '--embeddings', 'keep', '--no-backup', '--reduce', 'truncate', ...extra], { env });
  let appId = '';
  let appNote: number[] = [];
  let forcedRun = '';

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), `pvm-app-${driver}-`));
    target = driver === 'pg' ? { driver, url: TEST_DATABASE_URL } : { driver, dir: path.join(work, 'db') };
  });
  afterAll(async () => {
    if (target.driver === 'pg') for (const t of [table, pcaTable]) await dropTable(target.url, t);
    await rm(work, { recursive: true, force: true });
  });

  it('loads the first 2000 numbers of each vector, re-normalized, and reports the quality like PCA', async () => {
    const file = path.join(work, 'first.json');
    const r = await migrate('--report', file);
    expect(r.code, r.stderr).toBe(0);
    const rep = await report(file);
    // The share of squared norm the first 2000 numbers hold, computed here from Python's vectors.
    const share = carol.vectors.map((v) => v.slice(0, 2000).reduce((s, x) => s + x * x, 0) / v.reduce((s, x) => s + x * x, 0));
    expect(rep.reduction).toMatchObject({ method: 'truncate', sourceDimensions: 3072, targetDimensions: 2000, sampleSize: 30, evaluation: 'held-out' });
    expect(rep.reduction.explainedVariance).toBeCloseTo(share.reduce((a, b) => a + b, 0) / share.length, 6);
    expect(rep.reduction.recallAt10).toBeGreaterThan(0);
    expect(rep.reduction.recallAt10).toBeLessThanOrEqual(1);
    const rows = await withDb(target, (q) =>
      q<{ source_index: number; e: string; type: string; fp: string }>(
        `SELECT source_index, embedding::text AS e, format_type(atttypid, atttypmod) AS type, embedding_fingerprint AS fp
           FROM "${table}", pg_attribute WHERE attrelid = '"${table}"'::regclass AND attname = 'embedding' ORDER BY source_index`,
      ),
    );
    expect(rows).toHaveLength(30);
    for (const row of rows) {
      expect(row.type).toBe('vector(2000)');
      const want = unit(carol.vectors[row.source_index]!.slice(0, 2000));
      const got = JSON.parse(row.e) as number[];
      expect(got).toHaveLength(2000);
      for (let i = 0; i < 2000; i += 97) expect(got[i]).toBeCloseTo(want[i]!, 6);
      expect(JSON.parse(row.fp)).toMatchObject({ reduction: 'truncate', sourceDimensions: 3072, dimensions: 2000 });
    }
  });

  it("the app's search with a stored row's own first 2000 numbers (not re-normalized) returns that row first", async () => {
    for (const i of [0, 7, 29]) {
      const hits = await appSearch(target, table, 'carol_corp', 'personal_assistant', carol.vectors[i]!.slice(0, 2000));
      expect(hits).toHaveLength(5);
      expect(hits[0]?.text).toBe(carol.texts[i]);
      expect(Number(hits[0]?.similarity)).toBeCloseTo(1, 5);
    }
  });

  it("the app's INSERT succeeds, and its search finds the new note", async () => {
    appNote = noteVector(4242, 3072).slice(0, 2000);
    appId = await appInsert(target, table, 'carol_corp', 'personal_assistant', 'a note the app wrote after the migration', appNote, { source: 'app-note.txt' });
    const hits = await appSearch(target, table, 'carol_corp', 'personal_assistant', appNote, 3);
    expect(hits[0]).toMatchObject({ id: appId, text: 'a note the app wrote after the migration' });
    expect(hits[0]?.metadata).toMatchObject({ source: 'app-note.txt', text: 'a note the app wrote after the migration' });
    const [row] = await rowSnapshot(target, table, appId);
    expect(row).toMatchObject({ content_sha256: null, embedding_model: null, source_index: null, embedding_fingerprint: null });
  });

  it('query truncates and normalizes a 3072-number --embedding-file', async () => {
    const file = path.join(work, 'q.json');
    await writeFile(file, JSON.stringify(carol.vectors[3]));
    const r = await runCli(['query', ...targetArgs(target), '--table', table, '--user', 'carol_corp', '--embedding-file', file, '-k', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.lines[0] as { hits: { text: string; distance: number }[] };
    expect(out.hits[0]?.text).toBe(carol.texts[3]);
    expect(out.hits[0]?.distance).toBeCloseTo(0, 5);
  });

  it('a forced re-run reloads the store and keeps the app row byte-exact', async () => {
    const before = await rowSnapshot(target, table, appId);
    const file = path.join(work, 'forced.json');
    const r = await migrate('--force', '--report', file);
    expect(r.code, r.stderr).toBe(0);
    const rep = await report(file);
    expect(rep.stores[0]).toMatchObject({ status: 'ok', rowsLoaded: 30 });
    forcedRun = rep.runId;
    expect(await rowSnapshot(target, table, appId)).toEqual(before);
    expect(await toolRows(target, table, 'carol_corp')).toBe(30);
  });

  it('verify exits 0 and counts the app row as an application row', async () => {
    const r = await runCli(['verify', SOURCE_ROOT, ...targetArgs(target), '--table', table, '--user', 'carol_corp', '--embeddings', 'keep', '--json'], { env });
    const out = r.lines[0] as { stores: { store: string; rows: number; expectedRows: number; applicationRows: number; ok: boolean }[]; mismatches: unknown[] };
    expect(out.mismatches).toEqual([]);
    expect(r.code).toBe(0);
    expect(out.stores).toEqual([{ store: 'carol_corp/personal_assistant', expectedRows: 30, rows: 30, applicationRows: 1, ok: true }]);
  });

  it('doctor counts the app row and finds the table healthy', async () => {
    const r = await runCli(['doctor', ...targetArgs(target), '--table', table, '--json']);
    const out = r.lines[0] as { diagnosis: { rows: number; applicationRows: number; fingerprints: unknown[] }; problems: string[] };
    expect(out.problems).toEqual([]);
    expect(r.code).toBe(0);
    expect(out.diagnosis).toMatchObject({ rows: 31, applicationRows: 1 });
    expect(out.diagnosis.fingerprints).toHaveLength(1);
  });

  it('rollback of the forced run restores the tool rows and leaves the app row as it was', async () => {
    const before = await rowSnapshot(target, table, appId);
    const r = await runCli(['rollback', ...targetArgs(target), '--table', table, '--run', forcedRun, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((r.lines[0] as { stores: unknown[] }).stores).toEqual([expect.objectContaining({ userId: 'carol_corp', status: 'restored', restored: 30, removed: 30 })]);
    expect(await rowSnapshot(target, table, appId)).toEqual(before);
    expect(await toolRows(target, table, 'carol_corp')).toBe(30);
  });

  it("the app's delete statements remove exactly what they name", async () => {
    const other = await appInsert(target, table, 'carol_corp', 'personal_assistant', 'typed by hand', noteVector(7, 2000));
    const byId = await withDb(target, async (q) => {
      await q(statement(APP_DELETE_IDS, table), [[other], 'carol_corp', 'personal_assistant']);
      return q<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}" WHERE id = $1`, [other]);
    });
    expect(Number(byId[0]?.n)).toBe(0);
    await app(target, statement(APP_DELETE_SOURCE, table), ['carol_corp', 'personal_assistant', 'app-note.txt', 'app-note.txt%']);
    expect(await rowSnapshot(target, table, appId)).toEqual([]);
    expect(await toolRows(target, table, 'carol_corp')).toBe(30);
  });

  it('--refit-pca refuses a table holding application rows, and changes nothing', async () => {
    const pca = (...extra: string[]) =>
      runCli(['migrate', SOURCE_ROOT, ...targetArgs(target), '--table', pcaTable, '--users', 'carol_corp', '--embeddings', 'keep', '--no-backup', '--reduce', 'pca', '--dimensions', '16', ...extra], { env });
    expect((await pca()).code).toBe(0);
    const id = await appInsert(target, pcaTable, 'carol_corp', 'personal_assistant', 'app row in a PCA table', noteVector(99, 16));
    const before = await rowSnapshot(target, pcaTable, id);
    const r = await pca('--refit-pca');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_USAGE.*--refit-pca.*1 rows were written by applications \(carol_corp\/personal_assistant: 1\)/s);
    expect(await rowSnapshot(target, pcaTable, id)).toEqual(before);
    // A PCA fit and four CLI processes on PGlite: minutes on a loaded machine.
  }, 300_000);
});

describe.each(['pg', 'pglite'] as const)('the original app on a plain vector(384) table (%s)', (driver) => {
  let work: string;
  let root: string;
  let target: Target;
  const table = `app_plain_${driver}_${process.pid}`;
  const alice = stored('alice_example_com/personal_assistant');
  const migrate = (...extra: string[]) =>
    runCli(['migrate', root, ...targetArgs(target), '--table', table, '--users', 'alice_example_com,dave', '--embeddings', 'keep', '--no-backup', ...extra], { env });
  const ids: { alice: string; dave: string } = { alice: '', dave: '' };

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), `pvm-app-plain-${driver}-`));
    root = path.join(work, 'user_data');
    for (const user of ['alice_example_com', 'dave']) await cp(path.join(SOURCE_ROOT, user), path.join(root, user), { recursive: true });
    execFileSync('chmod', ['-R', 'u+w', root]);
    target = driver === 'pg' ? { driver, url: TEST_DATABASE_URL } : { driver, dir: path.join(work, 'db') };
  });
  afterAll(async () => {
    if (target.driver === 'pg') await dropTable(target.url, table);
    await rm(work, { recursive: true, force: true });
  });

  it("the app's search and INSERT work on the table as migrated (dave's store fails)", async () => {
    const r = await migrate();
    expect(r.code).toBe(1);
    for (const i of [0, 21]) {
      const hits = await appSearch(target, table, 'alice_example_com', 'personal_assistant', alice.vectors[i]!);
      expect(hits[0]?.text).toBe(alice.texts[i]);
      expect(Number(hits[0]?.similarity)).toBeCloseTo(1, 5);
    }
    const note = noteVector(11, 384);
    ids.alice = await appInsert(target, table, 'alice_example_com', 'personal_assistant', 'alice wrote this in the app', note);
    ids.dave = await appInsert(target, table, 'dave', 'personal_assistant', 'dave wrote this while his store could not migrate', noteVector(12, 384));
    expect((await appSearch(target, table, 'alice_example_com', 'personal_assistant', note, 1))[0]?.id).toBe(ids.alice);
  });

  it('--retry-failed loads the fixed store beside the app row, and keeps both app rows byte-exact', async () => {
    const before = { alice: await rowSnapshot(target, table, ids.alice), dave: await rowSnapshot(target, table, ids.dave) };
    // Fix dave with Python's json: drop the metadata entry that has no vector.
    const meta = path.join(root, 'dave', 'vector_store_personal_assistant', 'metadata.json');
    execFileSync('python3', ['-c', 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); json.dump(d[:5], open(p, "w"))', meta]);
    const file = path.join(work, 'retry.json');
    const r = await migrate('--retry-failed', '--report', file);
    expect(r.code, r.stderr).toBe(0);
    expect((await report(file)).stores).toEqual([expect.objectContaining({ userId: 'dave', status: 'ok', rowsLoaded: 5 })]);
    expect(await toolRows(target, table, 'dave')).toBe(5);
    expect(await rowSnapshot(target, table, ids.dave)).toEqual(before.dave);
    expect(await rowSnapshot(target, table, ids.alice)).toEqual(before.alice);
  });

  it('a forced re-run of both users keeps the app rows; verify counts them', async () => {
    const before = { alice: await rowSnapshot(target, table, ids.alice), dave: await rowSnapshot(target, table, ids.dave) };
    expect((await migrate('--force')).code).toBe(0);
    expect(await rowSnapshot(target, table, ids.alice)).toEqual(before.alice);
    expect(await rowSnapshot(target, table, ids.dave)).toEqual(before.dave);
    const v = await runCli(['verify', root, ...targetArgs(target), '--table', table, '--embeddings', 'keep', '--json'], { env });
    const out = v.lines[0] as { stores: { store: string; applicationRows: number; ok: boolean }[]; mismatches: unknown[] };
    expect(out.mismatches).toEqual([]);
    expect(v.code).toBe(0);
    expect(out.stores.map((s) => [s.store, s.applicationRows, s.ok])).toEqual([
      ['alice_example_com/notes', 0, true],
      ['alice_example_com/personal_assistant', 1, true],
      ['dave/personal_assistant', 1, true],
    ]);
  });
});

describe('--reduce truncate in re-embed mode: migrate and reembed shorten the same way, app rows included (pg)', () => {
  const target: Target = { driver: 'pg', url: TEST_DATABASE_URL };
  const fresh = `app_trunc_fresh_${process.pid}`;
  const table = `app_trunc_reemb_${process.pid}`;
  const MODEL_48 = path.join(REPO, 'fixtures/models/tiny-bert-48');
  const vectors = (t: string) =>
    withDb(target, (q) => q<{ text: string; e: string; source_index: number | null; norm: number; fp: string }>(`SELECT text, embedding::text AS e, source_index, vector_norm(embedding) AS norm, embedding_fingerprint AS fp FROM "${t}" ORDER BY text`));
  afterAll(async () => {
    for (const t of [fresh, table]) {
      const rows = await withDb(target, (q) => q<{ relname: string }>(`SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND relname LIKE $1`, [`${t}%`]));
      for (const r of rows) await withDb(target, (q) => q(`DROP TABLE IF EXISTS "${r.relname}" CASCADE`));
    }
  });

  it('reembed --reduce truncate re-embeds every row, the app row too, exactly as a fresh truncating migration', async () => {
    const migrate = (t: string, model: string, ...extra: string[]) =>
      runCli(['migrate', SOURCE_ROOT, ...targetArgs(target), '--table', t, '--users', 'alice_example_com', '--model', model, '--no-backup', ...extra], { env });
    const m = await migrate(fresh, MODEL_48, '--reduce', 'truncate', '--dimensions', '20');
    expect(m.code, m.stderr).toBe(0);
    expect((await migrate(table, TINY_MODEL)).code).toBe(0);
    const note = stored('alice_example_com/notes').texts[0] ?? '';
    await appInsert(target, table, 'alice_example_com', 'notes', note, noteVector(5, 32));
    const r = await runCli(['reembed', ...targetArgs(target), '--table', table, '--model', MODEL_48, '--reduce', 'truncate', '--dimensions', '20']);
    expect(r.code, r.stderr).toBe(0);
    const got = await vectors(table);
    const want = await vectors(fresh);
    expect(got).toHaveLength(want.length + 1);
    for (const row of got) {
      expect(JSON.parse(row.fp)).toMatchObject({ reduction: 'truncate', sourceDimensions: 48, dimensions: 20 });
      expect(row.norm).toBeCloseTo(1, 5);
      const same = want.find((w) => w.text === row.text);
      expect(same, row.text).toBeDefined();
      expect(row.e).toBe(same?.e);
    }
    expect(got.filter((x) => x.source_index === null).map((x) => x.text)).toEqual([note]);
  });
});
