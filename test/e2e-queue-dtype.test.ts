/**
 * A worker embeds with the --dtype of the run that enqueued the job, for store jobs and for
 * re-embedding pages: the job names the file, never the worker's own default. Without it a q8 plan
 * was embedded with the fp32 file by every worker.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTablesLike, REPO, runCli, TEST_DATABASE_URL, TINY_MODEL } from './helpers/cli.js';
import { query } from './helpers/queueWorkers.js';

const STORES = Array.from({ length: 3 }, (_, n) => ({
  user: `dt${n}`,
  collection: 'notes',
  encrypt: false,
  dims: 6,
  entries: Array.from({ length: 4 }, (_, i) => ({ id: `dt-${n}-${i}`, text: `note ${i} of user ${n}: quantized or not`, timestamp: '2024-01-01' })),
}));
const sha = async (file: string) => createHash('sha256').update(await readFile(path.join(TINY_MODEL, 'onnx', file))).digest('hex');

describe('--dtype through the queue (pg)', () => {
  let work: string;
  let root: string;
  const table = `qdtype_${process.pid}`;
  const db = ['--database-url', TEST_DATABASE_URL, '--table', table];
  const fingerprints = async () =>
    (await query<{ f: string }>(`SELECT DISTINCT embedding_fingerprint AS f FROM "${table}"`)).map((r) => JSON.parse(r.f) as Record<string, unknown>);
  const embeddings = async (t: string) => (await query<{ id: string; e: string }>(`SELECT id, embedding::text AS e FROM "${t}" ORDER BY id`)).map((r) => [r.id, r.e]);

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-queue-dtype-'));
    root = path.join(work, 'user_data');
    execFileSync('python3', [path.join(REPO, 'scripts/write_stores.py')], { input: JSON.stringify({ root, stores: STORES }) });
  });
  afterAll(async () => {
    await dropTablesLike(TEST_DATABASE_URL, table);
    await rm(work, { recursive: true, force: true });
  });

  it('store jobs and re-embedding pages embed with the enqueued dtype, as a direct run does', async () => {
    const enqueued = await runCli(['migrate', root, ...db, '--model', TINY_MODEL, '--dtype', 'q8', '--no-backup', '--enqueue']);
    expect(enqueued.code, enqueued.stderr).toBe(0);
    const worker = await runCli(['worker', '--database-url', TEST_DATABASE_URL, '--drain', '--json']);
    expect(worker.code, worker.stderr).toBe(0);
    expect(await fingerprints()).toEqual([expect.objectContaining({ dtype: 'q8', onnxFile: 'onnx/model_quantized.onnx', modelSha256: await sha('model_quantized.onnx') })]);
    // The same vectors as one process loading with --dtype q8.
    const direct = await runCli(['migrate', root, '--database-url', TEST_DATABASE_URL, '--table', `${table}_direct`, '--model', TINY_MODEL, '--dtype', 'q8', '--no-backup']);
    expect(direct.code, direct.stderr).toBe(0);
    expect(await embeddings(table)).toEqual(await embeddings(`${table}_direct`));

    // Re-embedding the table with fp32 through the queue: every row ends fp32, with its file.
    const reembed = await runCli(['reembed', ...db, '--model', TINY_MODEL, '--dtype', 'fp32', '--enqueue', '--page-rows', '5']);
    expect(reembed.code, reembed.stderr).toBe(0);
    const again = await runCli(['worker', '--database-url', TEST_DATABASE_URL, '--drain', '--json']);
    expect(again.code, again.stderr).toBe(0);
    // fp32 rows record no dtype: their fingerprint is the one written before --dtype existed.
    const [fp32, ...others] = await fingerprints();
    expect(others).toEqual([]);
    expect(fp32).toMatchObject({ onnxFile: 'onnx/model.onnx', modelSha256: await sha('model.onnx') });
    expect(fp32).not.toHaveProperty('dtype');

    // And back to q8 by pages: the pages load the quantized file, not the worker's default.
    expect((await runCli(['reembed', ...db, '--model', TINY_MODEL, '--dtype', 'q8', '--enqueue', '--page-rows', '5'])).code).toBe(0);
    const third = await runCli(['worker', '--database-url', TEST_DATABASE_URL, '--drain', '--json']);
    expect(third.code, third.stderr).toBe(0);
    // The fingerprint is the loaded embedder's own (its file and hash), so it says which file ran.
    // The vectors are not compared with the direct run's: pages batch other texts together, and a
    // dynamically quantized model's activation scales depend on the batch (README, --dtype).
    expect(await fingerprints()).toEqual([expect.objectContaining({ dtype: 'q8', onnxFile: 'onnx/model_quantized.onnx', modelSha256: await sha('model_quantized.onnx') })]);
  }, 300_000);
});
