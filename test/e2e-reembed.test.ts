/**
 * `reembed` end to end through the CLI on both drivers: tiny-bert (32 dims) to tiny-bert-48 (48
 * dims) in a side table, applications writing meanwhile, the swap, swap-back, abort, an
 * interruption and resume, and (pg) a reader that must never see two models at once.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, dropTable, dropTablesLike, REPO, runCli, SHARED_STORES, TEST_DATABASE_URL, targetArgs, TINY_MODEL, withDb, type Target } from './helpers/cli.js';

const MODEL_48 = path.join(REPO, 'fixtures/models/tiny-bert-48');
const ROOT = path.join(SHARED_STORES, 'user_data');
const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
/** Rows the shared stores load (the failing stores load none). */
const ROWS = 115;

interface ReembedReportLine {
  rows: { total: number; alreadyDone: number; embedded: number; caughtUp: number; pruned: number };
  swap: { previousTable: string; caughtUp: number; pruned: number; synced: number } | null;
  swapDeferred: string | null;
  verification: { stores: number; spotChecks: number } | null;
  index: { built: boolean } | null;
  dimensions: number;
  fingerprint: string;
}

function reportOf(lines: Record<string, unknown>[]): ReembedReportLine {
  const done = lines.find((l) => l['type'] === 'reembed-done');
  if (done === undefined) throw new Error(`no reembed-done line in ${JSON.stringify(lines.slice(-3))}`);
  return done['report'] as ReembedReportLine;
}

interface Shape {
  rows: number;
  ids: number;
  dims: number[];
  fingerprints: number;
}

async function shapeOf(target: Target, table: string): Promise<Shape> {
  const [row] = await withDb(target, (q) =>
    q<{ rows: number; ids: number; dims: number[]; fingerprints: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT id)::int AS ids, array_agg(DISTINCT vector_dims(embedding)) AS dims, count(DISTINCT embedding_fingerprint)::int AS fingerprints FROM "${table}"`,
    ),
  );
  if (row === undefined) throw new Error('no row');
  return { ...row, dims: [...row.dims].map(Number) };
}

async function tablesLike(target: Target, prefix: string): Promise<string[]> {
  const rows = await withDb(target, (q) => q<{ relname: string }>(`SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND relname LIKE $1 ORDER BY 1`, [`${prefix}%`]));
  return rows.map((r) => r.relname);
}

async function dropAll(url: string, prefix: string): Promise<void> {
  await dropTablesLike(url, prefix);
  await dropTable(url, prefix);
}

describe.each(['pglite', 'pg'] as const)('reembed: tiny-bert -> tiny-bert-48 side by side (%s)', (driver) => {
  let work: string;
  let target: Target;
  const table = `reemb_${driver}_${process.pid}`;
  const db = () => [...targetArgs(target), '--table', table];

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), `pvm-reembed-${driver}-`));
    target = driver === 'pg' ? { driver, url: TEST_DATABASE_URL } : { driver, dir: path.join(work, 'db') };
    const r = await runCli(['migrate', ROOT, ...db(), '--model', TINY_MODEL, '--no-backup'], { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(r.code, r.stderr).toBe(1); // the shared data holds stores that must fail
    expect(await shapeOf(target, table)).toMatchObject({ rows: ROWS, dims: [32], fingerprints: 1 });
  });
  afterAll(async () => {
    if (target.driver === 'pg') await dropAll(target.url, table);
    await rm(work, { recursive: true, force: true });
  });

  it('--no-swap fills and verifies the side table while the table keeps its old vectors', async () => {
    const r = await runCli(['reembed', ...db(), '--model', MODEL_48, '--no-swap', '--batch-size', '16']);
    expect(r.code, r.stderr).toBe(0);
    const report = reportOf(r.lines);
    expect(report.rows).toEqual({ total: ROWS, alreadyDone: 0, embedded: ROWS, caughtUp: 0, pruned: 0 });
    expect(report.swap).toBeNull();
    expect(report.swapDeferred).toMatch(/--no-swap/);
    expect(report.verification?.spotChecks).toBeGreaterThan(0);
    expect(report.index?.built).toBe(true);
    // Progress went out as JSON lines with rows done / total, rate and ETA.
    const progress = r.lines.filter((l) => l['type'] === 'reembed-progress');
    expect(progress.length).toBeGreaterThanOrEqual(Math.ceil(ROWS / 16));
    expect(progress.at(-1)).toMatchObject({ done: ROWS, unwritten: 0, total: ROWS });
    // One page is a sort window (64 batches of 16): the whole table was embedded, grouped by
    // length, before its first batch was written, and progress moved meanwhile.
    expect(progress.some((p) => p['done'] === 0 && p['unwritten'] === ROWS)).toBe(true);
    expect(progress.filter((p) => p['done'] === 0).length).toBeGreaterThan(1);
    expect(typeof progress[0]?.['rowsPerSecond']).toBe('number');

    // Readers of the table still see only the old model.
    expect(await shapeOf(target, table)).toMatchObject({ rows: ROWS, dims: [32], fingerprints: 1 });
    const side = await shapeOf(target, `${table}_reembed`);
    expect(side).toMatchObject({ rows: ROWS, ids: ROWS, dims: [48], fingerprints: 1 });
    const [fp] = await withDb(target, (q) => q<{ f: string }>(`SELECT DISTINCT embedding_fingerprint AS f FROM "${table}_reembed"`));
    expect(JSON.parse(fp?.f ?? '{}')).toMatchObject({ dimensions: 48, model: MODEL_48, pooling: 'mean', normalized: true });
    // Side rows carry the table's columns (timestamps and metadata too), only the embedding is new.
    const diff = await withDb(target, (q) =>
      q<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${table}" m JOIN "${table}_reembed" s USING (id)
         WHERE (m.user_id, m.collection_name, m.text, m.metadata, m.created_at, m.updated_at, m.content_sha256, m.source_index)
               IS DISTINCT FROM (s.user_id, s.collection_name, s.text, s.metadata, s.created_at, s.updated_at, s.content_sha256, s.source_index)`,
      ),
    );
    expect(diff[0]?.n).toBe(0);
  });

  it('another model while a job is unfinished is refused, naming the way out', async () => {
    const r = await runCli(['reembed', ...db(), '--model', TINY_MODEL]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_REEMBED.*unfinished re-embedding.*--abort/s);
  });

  it("the spot check fails on a side row whose vector is wrong, naming the row it checked; nothing is swapped", async () => {
    const sideTable = `${table}_reembed`;
    const [checked] = await withDb(target, (q) => q<{ id: string; user_id: string; v: string }>(`SELECT id::text AS id, user_id, embedding::text AS v FROM "${sideTable}" ORDER BY user_id, id LIMIT 1`));
    if (checked === undefined) throw new Error('the side table is empty');
    // A zero vector cannot be found by a cosine search, not even with itself.
    await withDb(target, (q) => q(`UPDATE "${sideTable}" SET embedding = array_fill(0, ARRAY[48])::real[]::vector WHERE id = $1`, [checked.id]));
    const r = await runCli(['reembed', ...db(), '--model', MODEL_48]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`E_REEMBED`);
    expect(r.stderr).toContain(`spot check failed for user ${checked.user_id}: an exact search of`);
    expect(r.stderr).toContain(`with row ${checked.id}'s own vector`);
    expect(await shapeOf(target, table)).toMatchObject({ rows: ROWS, dims: [32] });
    await withDb(target, (q) => q(`UPDATE "${sideTable}" SET embedding = $2::vector WHERE id = $1`, [checked.id, checked.v]));
  });

  it('catches up with rows applications wrote after the job started, then swaps atomically', async () => {
    // An application inserts a row, edits a text and deletes a row after the job started.
    await withDb(target, async (q) => {
      await q(
        `INSERT INTO "${table}" (id, user_id, collection_name, text, embedding, metadata, content_sha256, embedding_model, source_index, pca_model_id, embedding_fingerprint)
         SELECT '00000000-0000-4000-8000-000000000001', user_id, collection_name, 'written by the app after the job started', embedding, '{"app":true}',
                encode(sha256(convert_to('written by the app after the job started', 'UTF8')), 'hex'), embedding_model, 999, pca_model_id, embedding_fingerprint
         FROM "${table}" WHERE user_id = 'bob' ORDER BY id LIMIT 1`,
      );
      await q(`UPDATE "${table}" SET text = 'edited by the app', content_sha256 = encode(sha256(convert_to('edited by the app', 'UTF8')), 'hex'), metadata = '{"edited":true}' WHERE id = (SELECT id FROM "${table}" WHERE user_id = 'carol_corp' ORDER BY id LIMIT 1)`);
      await q(`UPDATE "${table}" SET metadata = '{"only_metadata":true}' WHERE id = (SELECT id FROM "${table}" WHERE user_id = 'frank' ORDER BY id LIMIT 1)`);
      await q(`DELETE FROM "${table}" WHERE id = (SELECT id FROM "${table}" WHERE user_id = 'alice_example_com' ORDER BY id LIMIT 1)`);
    });
    const before = await withDb(target, (q) => q<{ id: string; text: string; metadata: unknown }>(`SELECT id::text AS id, text, metadata FROM "${table}" ORDER BY id`));

    const r = await runCli(['reembed', ...db(), '--model', MODEL_48]);
    expect(r.code, r.stderr).toBe(0);
    const report = reportOf(r.lines);
    // The inserted and the edited rows are the only ones embedded again.
    expect(report.rows).toMatchObject({ total: ROWS, alreadyDone: ROWS - 2, embedded: 2, pruned: 1 });
    expect(report.swap).toMatchObject({ pruned: 0, caughtUp: 0 });
    expect(report.swap?.synced).toBeGreaterThanOrEqual(1);
    const retired = report.swap?.previousTable ?? '';
    expect(retired).toMatch(new RegExp(`^${table}_prev_\\d{14}$`));

    // After the swap, the table holds the new model's vectors for every row, with the app's data.
    expect(await shapeOf(target, table)).toMatchObject({ rows: ROWS, ids: ROWS, dims: [48], fingerprints: 1 });
    const after = await withDb(target, (q) => q<{ id: string; text: string; metadata: unknown }>(`SELECT id::text AS id, text, metadata FROM "${table}" ORDER BY id`));
    expect(after).toEqual(before);
    // The old table is kept, untouched, under its retired name; the side table is gone.
    expect(await shapeOf(target, retired)).toMatchObject({ rows: ROWS, dims: [32], fingerprints: 1 });
    expect(await tablesLike(target, `${table}_reembed`)).toEqual([]);
    // Indexes carry the table's own names, so a later migrate or reembed finds them.
    const indexes = await withDb(target, (q) => q<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY 1`, [table]));
    expect(indexes.map((i) => i.indexname)).toEqual([`${table}_embedding_hnsw_idx`, `${table}_pkey`, `${table}_user_collection_idx`].sort());

    // Doctor sees one fingerprint; a search with the new model answers from the new vectors.
    const doctor = await runCli(['doctor', ...db(), '--json']);
    expect(doctor.code, doctor.stdout).toBe(0);
    const q = await runCli(['query', 'edited by the app', '--user', 'carol_corp', ...db(), '--model', MODEL_48, '-k', '1', '--json']);
    expect(q.code, q.stderr).toBe(0);
    expect((q.lines[0] as { hits: { text: string; distance: number }[] }).hits[0]).toMatchObject({ text: 'edited by the app' });
    expect((q.lines[0] as { hits: { distance: number }[] }).hits[0]?.distance).toBeLessThan(1e-5);
    // Without --model, query takes the swapped-in rows' recorded model (tiny-bert-48).
    const recorded = await runCli(['query', 'edited by the app', '--user', 'carol_corp', ...db(), '--offline', '-k', '1', '--json']);
    expect(recorded.code, recorded.stderr).toBe(0);
    expect(recorded.lines[0]).toEqual(q.lines[0]);
  });

  it('the new vectors are exactly what a fresh migration with the new model computes', async () => {
    const fresh = `${table}_fresh`;
    const m = await runCli(['migrate', ROOT, ...targetArgs(target), '--table', fresh, '--model', MODEL_48, '--no-backup'], { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(m.code).toBe(1);
    const worst = await withDb(target, (q) =>
      q<{ n: number; worst: number }>(
        `SELECT count(*)::int AS n, max(a.embedding <-> b.embedding)::float8 AS worst FROM "${table}" a JOIN "${fresh}" b USING (id) WHERE a.text = b.text`,
      ),
    );
    expect(worst[0]?.n).toBe(ROWS - 2);
    expect(worst[0]?.worst).toBeLessThan(1e-5);
  });

  it('--swap-back restores the old table; --abort then removes the side table and leaves the table alone', async () => {
    const back = await runCli(['reembed', ...db(), '--swap-back']);
    expect(back.code, back.stderr).toBe(0);
    expect(await shapeOf(target, table)).toMatchObject({ rows: ROWS, dims: [32], fingerprints: 1 });
    expect(await shapeOf(target, `${table}_reembed`)).toMatchObject({ rows: ROWS, dims: [48] });
    // Without --model, query follows the restored rows' model (tiny-bert, 32 dimensions) again.
    const q = await runCli(['query', 'edited by the app', '--user', 'carol_corp', ...db(), '--offline', '-k', '1', '--json']);
    expect(q.code, q.stderr).toBe(0);
    const named = await runCli(['query', 'edited by the app', '--user', 'carol_corp', ...db(), '--model', TINY_MODEL, '-k', '1', '--json']);
    expect(q.lines[0]).toEqual(named.lines[0]);
    // Nothing to swap back twice.
    const again = await runCli(['reembed', ...db(), '--swap-back']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/E_REEMBED/);

    const abort = await runCli(['reembed', ...db(), '--abort']);
    expect(abort.code, abort.stderr).toBe(0);
    expect(await tablesLike(target, `${table}_reembed`)).toEqual([]);
    expect(await shapeOf(target, table)).toMatchObject({ rows: ROWS, dims: [32], fingerprints: 1 });
    const none = await runCli(['reembed', ...db(), '--abort']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no unfinished re-embedding/);
  });

  it('an interrupted job resumes where it stopped: no row computed twice, exactly one vector per row', async () => {
    // Killed once at least 40 rows are committed. Batches of 1 are committed one by one, in pages
    // of 64 (one sort window): the kill lands while the first page is being written or the
    // second embedded.
    const args = [CLI, 'reembed', ...db(), '--model', MODEL_48, '--batch-size', '1', '--json'];
    let killedAt = 0;
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'ignore'] });
      let buffer = '';
      child.stdout.on('data', (d: Buffer) => {
        buffer += d.toString('utf8');
        for (const line of buffer.split('\n').slice(0, -1)) {
          const event = JSON.parse(line) as { type: string; done?: number };
          if (event.type === 'reembed-progress' && (event.done ?? 0) >= 40 && killedAt === 0) {
            killedAt = event.done ?? 0;
            child.kill('SIGKILL');
          }
        }
        buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
      });
      child.on('error', reject);
      child.on('close', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the job ended before it could be killed (${String(signal)})`))));
    });
    expect(killedAt).toBeGreaterThanOrEqual(40);
    expect(killedAt).toBeLessThan(ROWS);
    const partial = await shapeOf(target, `${table}_reembed`);
    expect(partial.rows).toBeGreaterThanOrEqual(killedAt);
    expect(partial.rows).toBeLessThan(ROWS);
    expect(await shapeOf(target, table)).toMatchObject({ rows: ROWS, dims: [32] });

    const resume = await runCli(['reembed', ...db(), '--model', MODEL_48, '--batch-size', '8']);
    expect(resume.code, resume.stderr).toBe(0);
    const report = reportOf(resume.lines);
    expect(report.rows.alreadyDone).toBe(partial.rows);
    expect(report.rows.embedded).toBe(ROWS - partial.rows);
    expect(report.swap).not.toBeNull();
    expect(await shapeOf(target, table)).toMatchObject({ rows: ROWS, ids: ROWS, dims: [48], fingerprints: 1 });
  });
});

describe('reembed with PCA reduction of the new vectors (pglite)', () => {
  let work: string;
  let target: Target;
  const table = 'reemb_pca';
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-reembed-pca-'));
    target = { driver: 'pglite', dir: path.join(work, 'db') };
    const r = await runCli(['migrate', ROOT, ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--no-backup'], { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(r.code).toBe(1);
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('fits PCA on the table texts, projects into the side table, and hands the model to the table at the swap', async () => {
    const r = await runCli(['reembed', ...targetArgs(target), '--table', table, '--model', MODEL_48, '--reduce', 'pca', '--dimensions', '16']);
    expect(r.code, r.stderr).toBe(0);
    const report = reportOf(r.lines);
    expect(report.dimensions).toBe(16);
    expect(JSON.parse(report.fingerprint)).toMatchObject({ sourceDimensions: 48, dimensions: 16 });
    expect(await shapeOf(target, table)).toMatchObject({ rows: ROWS, dims: [16], fingerprints: 1 });
    const models = await withDb(target, (q) => q<{ table_name: string; active: boolean; n: number }>(`SELECT table_name, active, (SELECT count(*)::int FROM "${table}" d WHERE d.pca_model_id = m.id) AS n FROM vector_pca_models m`));
    expect(models).toEqual([{ table_name: table, active: true, n: ROWS }]);
    // query projects the query text with the table's model and searches by L2.
    const q = await runCli(['query', 'anything', '--user', 'bob', ...targetArgs(target), '--table', table, '--model', MODEL_48, '-k', '3', '--json']);
    expect(q.code, q.stderr).toBe(0);
    expect((q.lines[0] as { hits: unknown[]; pcaModelId: string }).hits).toHaveLength(3);
  });
});

describe('reembed on a real server: a reader polling during the whole job never sees two models', () => {
  const table = `reemb_reader_${process.pid}`;
  afterAll(async () => {
    await dropAll(TEST_DATABASE_URL, table);
  });

  it('every read answers from exactly one model, the old one before the swap and the new one after', async () => {
    const target: Target = { driver: 'pg', url: TEST_DATABASE_URL };
    const m = await runCli(['migrate', ROOT, ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--no-backup'], { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(m.code).toBe(1);
    const reader = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await reader.connect();
    const seen: string[] = [];
    let stop = false;
    const polling = (async () => {
      while (!stop) {
        const { rows } = await reader.query<{ models: string; dims: string; n: number }>(
          `SELECT string_agg(DISTINCT embedding_fingerprint, '|') AS models, string_agg(DISTINCT vector_dims(embedding)::text, '|') AS dims, count(*)::int AS n FROM "${table}"`,
        );
        const row = rows[0];
        seen.push(`${row?.dims ?? '?'}:${row?.n ?? 0}:${(row?.models ?? '').split('|').length}`);
      }
    })();
    try {
      const r = await runCli(['reembed', ...targetArgs(target), '--table', table, '--model', MODEL_48, '--batch-size', '8']);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      stop = true;
      await polling;
      await reader.end();
    }
    expect(seen.length).toBeGreaterThan(10);
    // One model per read, every row there, and the switch happens once.
    expect(new Set(seen)).toEqual(new Set([`32:${ROWS}:1`, `48:${ROWS}:1`]));
    const switchAt = seen.indexOf(`48:${ROWS}:1`);
    expect(switchAt).toBeGreaterThan(0);
    expect(seen.slice(switchAt).every((s) => s === `48:${ROWS}:1`)).toBe(true);
  });
});
