import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTable, runCli, SHARED_STORES, TEST_DATABASE_URL, targetArgs, TINY_MODEL, withDb, type Target } from './helpers/cli.js';

const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const MODEL_SHA = createHash('sha256').update(await readFile(path.join(TINY_MODEL, 'onnx', 'model.onnx'))).digest('hex');

describe.each(['pglite', 'pg'] as const)('embedding fingerprints and doctor (%s)', (driver) => {
  let work: string;
  let target: Target;
  const table = `doctor_${driver}_${process.pid}`;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), `pvm-doctor-${driver}-`));
    target = driver === 'pg' ? { driver, url: TEST_DATABASE_URL } : { driver, dir: path.join(work, 'db') };
    const r = await runCli(['migrate', path.join(SHARED_STORES, 'user_data'), ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--no-backup'], {
      env: { ENCRYPTION_MASTER_KEY: MASTER_KEY },
    });
    expect(r.code).toBe(1);
  });
  afterAll(async () => {
    if (target.driver === 'pg') {
      await dropTable(target.url, table);
    }
    await rm(work, { recursive: true, force: true });
  });

  it('every row carries the fingerprint of what embedded it: model, model file hash, pooling, normalization, dimensions', async () => {
    const rows = await withDb(target, (q) => q<{ f: string | null; n: number }>(`SELECT embedding_fingerprint AS f, count(*)::int AS n FROM "${table}" GROUP BY 1`));
    expect(rows).toHaveLength(1);
    const f = JSON.parse(rows[0]?.f ?? 'null') as Record<string, unknown>;
    expect(f).toMatchObject({ modelSha256: MODEL_SHA, onnxFile: 'onnx/model.onnx', pooling: 'mean', normalized: true, dimensions: 32, vectorType: 'vector' });
    expect(rows[0]?.n).toBe(115);
  });

  it('doctor finds a healthy table healthy, and flags mixed fingerprints, zero vectors and empty texts', async () => {
    const healthy = await runCli(['doctor', ...targetArgs(target), '--table', table, '--json']);
    expect(healthy.code, healthy.stdout + healthy.stderr).toBe(0);
    expect((healthy.lines[0] as { problems: string[] }).problems).toEqual([]);

    await withDb(target, (q) => q(`UPDATE "${table}" SET embedding_fingerprint = '{"model":"other"}' WHERE user_id = 'bob'`));
    await withDb(target, (q) => q(`UPDATE "${table}" SET text = '' WHERE user_id = 'frank' AND source_index = 0`));
    const sick = await runCli(['doctor', ...targetArgs(target), '--table', table, '--json']);
    expect(sick.code).toBe(1);
    const out = sick.lines[0] as { problems: string[]; diagnosis: { fingerprints: { rows: number }[]; missingText: { rows: number } } };
    expect(out.diagnosis.fingerprints.map((x) => x.rows).sort((a, b) => a - b)).toEqual([25, 90]);
    expect(out.diagnosis.missingText.rows).toBe(1);
    expect(out.problems.join('\n')).toMatch(/2 embedding fingerprints share one index/);
    expect(out.problems.join('\n')).toMatch(/1 rows have an empty text/);
  });
});
