/**
 * --dtype in the embedder: the variant's ONNX file reaches the session, the fingerprint says which
 * dtype made the vectors, a directory without the variant's file is refused naming it, and the
 * quality report compares with fp32 on the same texts.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isMigrateError } from '../src/errors.js';
import { compareWithFp32 } from '../src/transform/dtypeQuality.js';
import { createEmbedder, type Embedder } from '../src/transform/embedder.js';
import { modelSpace, serializeSpace } from '../src/transform/embeddingSpace.js';

// transformers.js binds fetch when first imported: refuse every network request it could make.
vi.hoisted(() => vi.spyOn(globalThis, 'fetch').mockImplementation(() => Promise.reject(new Error('network access attempted in a test'))));

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TINY = path.join(REPO, 'fixtures', 'models', 'tiny-bert');
const TINY_48 = path.join(REPO, 'fixtures', 'models', 'tiny-bert-48');
const TEXTS = ['The quick brown fox jumps over the lazy dog.', 'Meeting notes: migrate the vector store before Friday.', 'hello', 'a longer text about the database, the table, the index and the search query for every user'];

const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  a.forEach((x, i) => {
    dot += x * (b[i] as number);
    na += x * x;
    nb += (b[i] as number) ** 2;
  });
  return dot / Math.sqrt(na * nb);
}

async function errorOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!isMigrateError(err)) throw new Error(`expected a MigrateError, got ${String(err)}`);
  return { code: err.code, message: err.message };
}

describe('--dtype in the embedder (tiny-bert and its q8 file)', () => {
  let fp32: Embedder;
  let q8: Embedder;
  beforeAll(async () => {
    fp32 = await createEmbedder({ model: TINY, allowRemoteModels: false, dtype: 'fp32' });
    q8 = await createEmbedder({ model: TINY, allowRemoteModels: false, dtype: 'q8' });
  });
  afterAll(async () => {
    await fp32?.dispose();
    await q8?.dispose();
  });

  it('loads onnx/model_quantized.onnx for q8 and records it: file, its SHA-256 and the dtype', () => {
    expect(q8.identity).toMatchObject({ model: TINY, onnxFile: 'onnx/model_quantized.onnx', modelSha256: sha256(path.join(TINY, 'onnx', 'model_quantized.onnx')), dtype: 'q8', dimensions: 32 });
    // fp32 fingerprints stay as they were before dtypes existed: no dtype field.
    expect(fp32.identity).toMatchObject({ onnxFile: 'onnx/model.onnx', modelSha256: sha256(path.join(TINY, 'onnx', 'model.onnx')) });
    expect('dtype' in fp32.identity).toBe(false);
    const [a, b] = [serializeSpace(modelSpace(fp32.identity, 'vector')), serializeSpace(modelSpace(q8.identity, 'vector'))];
    expect(a).not.toBe(b);
    expect(JSON.parse(b)).toMatchObject({ dtype: 'q8' });
  });

  it('embeds through the quantized session: vectors near fp32 (cosine > 0.9) but not the same numbers', async () => {
    const [a, b] = [await fp32.embed(TEXTS), await q8.embed(TEXTS)];
    a.forEach((v, i) => {
      const w = b[i] as Float32Array;
      expect(cosine(v, w)).toBeGreaterThan(0.9);
      expect(Buffer.from(v.buffer).equals(Buffer.from(w.buffer))).toBe(false);
    });
  });

  it('reports mean and minimum cosine of the dtype against fp32 on the same texts', async () => {
    const quality = await compareWithFp32(q8, fp32, TEXTS, 2);
    // The same batches: a dynamically quantized activation's scale is that of its whole batch.
    const [a, b] = [await fp32.embed(TEXTS, { batchSize: 2 }), await q8.embed(TEXTS, { batchSize: 2 })];
    const cosines = a.map((v, i) => cosine(v, b[i] as Float32Array));
    expect(quality).toMatchObject({ dtype: 'q8', against: 'fp32', sampleSize: TEXTS.length });
    expect(quality.meanCosine).toBeCloseTo(cosines.reduce((x, y) => x + y, 0) / cosines.length, 5);
    expect(quality.minCosine).toBeCloseTo(Math.min(...cosines), 5);
    expect(quality.minCosine).toBeLessThan(1);
    expect((await compareWithFp32(fp32, fp32, TEXTS, 2)).minCosine).toBeCloseTo(1, 6);
  });

  it('refuses a dtype whose file the directory lacks, naming the missing file (E_MODEL)', async () => {
    for (const [dtype, file] of [['fp16', 'model_fp16.onnx'], ['q4', 'model_q4.onnx']] as const) {
      const e = await errorOf(createEmbedder({ model: TINY, allowRemoteModels: false, dtype }));
      expect(e.code).toBe('E_MODEL');
      expect(e.message).toContain(`no onnx/${file} for dtype ${dtype}`);
    }
    const e = await errorOf(createEmbedder({ model: TINY_48, allowRemoteModels: false, dtype: 'q8' }));
    expect(e).toMatchObject({ code: 'E_MODEL' });
    expect(e.message).toMatch(/no onnx\/model_quantized\.onnx for dtype q8; it has onnx\/model\.onnx/);
  });
});
