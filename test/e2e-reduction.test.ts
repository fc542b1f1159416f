import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluationRows, fromPcaModelRecord } from '../src/run/pcaModelRecord.js';
import { openSink } from '../src/sink/index.js';
import { measureQuality } from '../src/transform/pcaFit.js';
import { dropTable, pythonVectors, readEmbeddings, readRows, runCli, SHARED_STORES, TEST_DATABASE_URL, targetArgs, tableExists, TINY_MODEL, withDb, type Target } from './helpers/cli.js';

const ROOT = path.join(SHARED_STORES, 'user_data');
const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const PY = pythonVectors(ROOT, MASTER_KEY);
const env = { ENCRYPTION_MASTER_KEY: MASTER_KEY };

function stored(key: string): number[][] {
  const s = PY[key];
  if (s === undefined || !('vectors' in s)) throw new Error(`no vectors for ${key}`);
  return s.vectors;
}

interface Reduction {
  method: string;
  sourceDimensions: number;
  targetDimensions: number;
  explainedVariance: number;
  recallAt10: number | null;
  pcaModelId: string | null;
  reused: boolean;
  notes: string[];
}

interface Report {
  dimensions: number;
  reduction: Reduction;
  stores: { userId: string; collection: string; status: string; rowsLoaded: number; error: { code: string; message: string } | null }[];
}

async function report(file: string): Promise<Report> {
  return JSON.parse(await readFile(file, 'utf8')) as Report;
}

function sinkFor(target: Target) {
  return openSink(target.driver === 'pg' ? { databaseUrl: target.url, pgliteDir: '' } : { pgliteDir: target.dir });
}

describe.each(['pglite', 'pg'] as const)('dimension reduction (%s)', (driver) => {
  let work: string;
  let target: Target;
  const t = (name: string) => `red_${name}_${driver}_${process.pid}`;
  const tables = ['pca', 'half', 'keep', 'dims', 'none', 'imported'].map(t);

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), `pvm-red-${driver}-`));
    target = driver === 'pg' ? { driver, url: TEST_DATABASE_URL } : { driver, dir: path.join(work, 'db') };
  });
  afterAll(async () => {
    if (target.driver === 'pg') for (const table of tables) await dropTable(target.url, table);
    await rm(work, { recursive: true, force: true });
  });

  const keepCarol = (table: string, ...extra: string[]) => ['migrate', ROOT, ...targetArgs(target), '--table', table, '--users', 'carol_corp', '--embeddings', 'keep', '--no-backup', ...extra];

  it('a dry run fits the model and reports its quality, but writes nothing', async () => {
    const file = path.join(work, 'dry.json');
    const r = await runCli([...keepCarol(t('pca'), '--reduce', 'pca', '--dry-run', '--report', file)], { env });
    expect(r.code, r.stderr).toBe(0);
    const rep = await report(file);
    expect(rep.reduction).toMatchObject({ method: 'pca', sourceDimensions: 3072, targetDimensions: 2000, pcaModelId: null });
    if (target.driver === 'pglite') expect(existsSync(target.dir)).toBe(false);
    else expect(await tableExists(target, t('pca'))).toBe(false);
  });

  let modelId = '';
  let firstVectors: number[][] = [];

  it('carol_corp (3072 dims) loads in keep mode through PCA to 2000, every row tagged with the model', async () => {
    const file = path.join(work, 'pca.json');
    const r = await runCli([...keepCarol(t('pca'), '--reduce', 'pca', '--report', file)], { env });
    expect(r.code, r.stderr).toBe(0);
    const rep = await report(file);
    expect(rep.dimensions).toBe(2000);
    expect(rep.reduction).toMatchObject({ method: 'pca', sourceDimensions: 3072, targetDimensions: 2000, reused: false });
    // 30 vectors span at most 29 centred directions: the model says so, and keeps all their variance.
    expect(rep.reduction.notes.join(' ')).toMatch(/only 29 directions/);
    expect(rep.reduction.explainedVariance).toBeCloseTo(1, 5);
    modelId = rep.reduction.pcaModelId ?? '';
    expect(modelId).toMatch(/^[0-9a-f-]{36}$/);
    const rows = await readEmbeddings(target, t('pca'), 'carol_corp');
    expect(rows).toHaveLength(30);
    expect(rows.every((x) => x.embedding.length === 2000 && x.pca_model_id === modelId && x.type === 'vector')).toBe(true);
    firstVectors = rows.map((x) => x.embedding);
    // Projections keep L2 distances, not angles: the index serves <->.
    const defs = await withDb(target, (q) => q<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE tablename = $1', [t('pca')]));
    expect(defs.map((d) => d.indexdef).join('\n')).toMatch(/USING hnsw \(embedding vector_l2_ops\)/);
  });

  it("the report's quality figures are reproduced from the database contents alone", async () => {
    const rep = await report(path.join(work, 'pca.json'));
    const sink = await sinkFor(target);
    try {
      const record = await sink.pcaModels.active({ table: t('pca') });
      expect(record?.id).toBe(modelId);
      if (record === null) return;
      const quality = measureQuality(fromPcaModelRecord(record), evaluationRows(record), 'in-sample');
      expect(quality.explainedVariance).toBe(rep.reduction.explainedVariance);
      expect(quality.recallAt10).toBe(rep.reduction.recallAt10);
    } finally {
      await sink.close();
    }
    // And the variance share straight from SQL, without our code.
    const [row] = await withDb(target, (q) =>
      q<{ share: number }>(`SELECT (SELECT sum(x) FROM unnest(explained_variance) AS x) / total_variance AS share FROM vector_pca_models WHERE id = $1`, [modelId]),
    );
    expect(Number(row?.share)).toBeCloseTo(rep.reduction.explainedVariance, 10);
  });

  it('query projects the query vector with the same model: each stored vector finds its own row first', async () => {
    const vectors = stored('carol_corp/personal_assistant');
    for (const i of [0, 7, 29]) {
      const file = path.join(work, `q${i}.json`);
      await writeFile(file, JSON.stringify(vectors[i]));
      const r = await runCli(['query', ...targetArgs(target), '--table', t('pca'), '--user', 'carol_corp', '--embedding-file', file, '-k', '3', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const out = r.lines[0] as { pcaModelId: string; hits: { sourceIndex: number; distance: number }[] };
      expect(out.pcaModelId).toBe(modelId);
      expect(out.hits[0]?.sourceIndex).toBe(i);
      expect(out.hits[0]?.distance).toBeLessThan(1e-5);
    }
  });

  it('re-running the user reuses the stored model and lands in the same space; --refit-pca replaces it in one go', async () => {
    const file = path.join(work, 'again.json');
    expect((await runCli([...keepCarol(t('pca'), '--report', file)], { env })).code).toBe(0);
    const rep = await report(file);
    expect(rep.reduction).toMatchObject({ method: 'pca', reused: true, pcaModelId: modelId });
    const rows = await readEmbeddings(target, t('pca'), 'carol_corp');
    expect(rows.map((x) => x.embedding)).toEqual(firstVectors);

    const refitFile = path.join(work, 'refit.json');
    const r = await runCli([...keepCarol(t('pca'), '--refit-pca', '--pca-sample', '25', '--report', refitFile)], { env });
    expect(r.code, r.stderr).toBe(0);
    const refit = await report(refitFile);
    expect(refit.reduction.reused).toBe(false);
    expect(refit.reduction.pcaModelId).not.toBe(modelId);
    const after = await readEmbeddings(target, t('pca'), 'carol_corp');
    expect(new Set(after.map((x) => x.pca_model_id))).toEqual(new Set([refit.reduction.pcaModelId]));
    const models = await withDb(target, (q) => q<{ n: number; active: number }>(`SELECT count(*)::int AS n, count(*) FILTER (WHERE active)::int AS active FROM vector_pca_models WHERE table_name = $1`, [t('pca')]));
    expect(models[0]).toEqual({ n: 2, active: 1 });
  });

  it('pca export / import moves the model to another table, whose loads then reuse it', async () => {
    const file = path.join(work, 'model.pca');
    const ex = await runCli(['pca', 'export', file, ...targetArgs(target), '--table', t('pca')]);
    expect(ex.code, ex.stderr).toBe(0);
    const im = await runCli(['pca', 'import', file, ...targetArgs(target), '--table', t('imported')]);
    expect(im.code, im.stderr).toBe(0);
    const rep = path.join(work, 'imported.json');
    expect((await runCli([...keepCarol(t('imported'), '--report', rep)], { env })).code).toBe(0);
    const imported = await report(rep);
    expect(imported.reduction.reused).toBe(true);
    const a = await readEmbeddings(target, t('pca'), 'carol_corp');
    const b = await readEmbeddings(target, t('imported'), 'carol_corp');
    expect(b.map((x) => x.embedding)).toEqual(a.map((x) => x.embedding));
    // Importing over rows projected by another model would mix spaces.
    const again = await runCli(['pca', 'import', file, ...targetArgs(target), '--table', t('pca')]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/mix two spaces/);
  });

  it('carol_corp loads as halfvec(3072), float16 values of the stored vectors', async () => {
    const file = path.join(work, 'half.json');
    const r = await runCli([...keepCarol(t('half'), '--reduce', 'halfvec', '--report', file)], { env });
    expect(r.code, r.stderr).toBe(0);
    expect((await report(file)).reduction).toMatchObject({ method: 'halfvec', targetDimensions: 3072 });
    const rows = await readEmbeddings(target, t('half'), 'carol_corp');
    const want = stored('carol_corp/personal_assistant');
    expect(rows).toHaveLength(30);
    for (const [i, row] of rows.entries()) {
      expect(row.type).toBe('halfvec');
      const w = want[i] ?? [];
      // float16 keeps 11 significant bits: relative error at most 2^-11 (values here are far from subnormal).
      row.embedding.forEach((x, j) => expect(Math.abs(x - (w[j] ?? 0))).toBeLessThanOrEqual(Math.abs(w[j] ?? 0) * 2 ** -11 + 1e-7));
    }
    const q = path.join(work, 'hq.json');
    await writeFile(q, JSON.stringify(want[3]));
    const hit = await runCli(['query', ...targetArgs(target), '--table', t('half'), '--user', 'carol_corp', '--embedding-file', q, '-k', '1', '--json']);
    expect((hit.lines[0] as { hits: { sourceIndex: number }[] }).hits[0]?.sourceIndex).toBe(3);
  });

  it('keep mode on the whole tree: the stored vectors arrive exactly (as float32); stores of another dimension fail, the rest go on', async () => {
    const file = path.join(work, 'keep.json');
    const r = await runCli(['migrate', ROOT, ...targetArgs(target), '--table', t('keep'), '--embeddings', 'keep', '--no-backup', '--report', file], { env });
    expect(r.code).toBe(1);
    const rep = await report(file);
    expect(rep.dimensions).toBe(384);
    const byUser = (u: string) => rep.stores.find((s) => s.userId === u);
    expect(byUser('bob')?.error?.code).toBe('E_DIM_MISMATCH');
    expect(byUser('carol_corp')?.error?.code).toBe('E_DIM_MISMATCH');
    expect(byUser('frank')?.status).toBe('ok');
    const rows = await readEmbeddings(target, t('keep'), 'alice_example_com');
    const want = [...stored('alice_example_com/notes'), ...stored('alice_example_com/personal_assistant')];
    // pgvector prints the shortest text that reads back as the same float32.
    expect(rows.map((x) => x.embedding.map(Math.fround))).toEqual(want.map((v) => Array.from(Float32Array.from(v))));
    const before = await readRows(target, t('keep'));
    expect(before.every((x) => x.embedding_model === 'stored')).toBe(true);
    // A model of another dimension is refused before anything is written to the table.
    const other = await runCli(['migrate', ROOT, ...targetArgs(target), '--table', t('keep'), '--model', TINY_MODEL, '--no-backup'], { env });
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/E_DIM_MISMATCH: table \S+ holds vector\(384\) but this run produces vector\(32\)/);
    expect(await readRows(target, t('keep'))).toEqual(before);
  });

  it('re-embedding with --dimensions reduces on purpose, and a text query is projected the same way', async () => {
    const file = path.join(work, 'dims.json');
    const r = await runCli(['migrate', ROOT, ...targetArgs(target), '--table', t('dims'), '--users', 'alice_example_com,bob', '--model', TINY_MODEL, '--dimensions', '16', '--no-backup', '--report', file], { env });
    expect(r.code, r.stderr).toBe(0);
    const rep = await report(file);
    expect(rep.reduction).toMatchObject({ method: 'pca', sourceDimensions: 32, targetDimensions: 16 });
    expect(rep.reduction.recallAt10).not.toBeNull();
    const texts = (await readRows(target, t('dims'))).filter((x) => x.user_id === 'bob');
    const text = texts[2]?.text ?? '';
    const q = await runCli(['query', ...targetArgs(target), '--table', t('dims'), '--model', TINY_MODEL, '--user', 'bob', '-k', '1', '--json', text]);
    expect(q.code, q.stderr).toBe(0);
    expect((q.lines[0] as { hits: { text: string; distance: number }[] }).hits[0]).toMatchObject({ text });
  });

  it('--reduce none over the index limit is refused up front, before anything is written', async () => {
    const r = await runCli([...keepCarol(t('none'), '--reduce', 'none')], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_DIM_MISMATCH.*2000/);
    expect(await tableExists(target, t('none'))).toBe(false);
  });
});
