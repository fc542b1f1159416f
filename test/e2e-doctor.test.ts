import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTable, pythonVectors, runCli, SHARED_STORES, TEST_DATABASE_URL, targetArgs, TINY_MODEL, withDb, type Target } from './helpers/cli.js';

const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const MODEL_SHA = createHash('sha256').update(await readFile(path.join(TINY_MODEL, 'onnx', 'model.onnx'))).digest('hex');

/**
 * Rows each user should end with, from Python's own reading of the shared stores: a store loads when
 * Python reads its texts and vectors and they agree in number; an entry becomes a row when it has a
 * text that is not empty once NULs (which PostgreSQL text cannot hold) are dropped.
 */
function expectedRowsByUser(): Map<string, number> {
  const rows = new Map<string, number>();
  for (const [key, store] of Object.entries(pythonVectors(path.join(SHARED_STORES, 'user_data'), MASTER_KEY))) {
    if ('error' in store || store.texts.length !== store.vectors.length) continue;
    const user = key.slice(0, key.indexOf('/'));
    const texts = store.texts.filter((t) => t !== null && t.replace(/\u0000/g, '') !== '').length;
    rows.set(user, (rows.get(user) ?? 0) + texts);
  }
  return rows;
}
const EXPECTED_ROWS = expectedRowsByUser();
const TOTAL_ROWS = [...EXPECTED_ROWS.values()].reduce((a, b) => a + b, 0);

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
    expect(rows[0]?.n).toBe(TOTAL_ROWS);
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
    const bob = EXPECTED_ROWS.get('bob') ?? 0;
    expect(bob).toBeGreaterThan(0);
    expect(out.diagnosis.fingerprints.map((x) => x.rows).sort((a, b) => a - b)).toEqual([bob, TOTAL_ROWS - bob].sort((a, b) => a - b));
    expect(out.diagnosis.missingText.rows).toBe(1);
    expect(out.problems.join('\n')).toMatch(/2 embedding fingerprints share one index/);
    expect(out.problems.join('\n')).toMatch(/1 rows have an empty text/);
  });
});
