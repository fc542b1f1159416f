import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MigrateError } from '../src/errors.js';
import { createEmbedder, type Embedder } from '../src/transform/embedder.js';

// Installed before any import runs: transformers.js binds globalThis.fetch when it is first
// imported, so this spy sees (and refuses) every network request the library could make.
const fetchSpy = vi.hoisted(() =>
  vi.spyOn(globalThis, 'fetch').mockImplementation(() => Promise.reject(new Error('network access attempted in a test'))),
);

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TINY = path.join(REPO, 'fixtures', 'models', 'tiny-bert');
const TINY_RELATIVE = path.relative(process.cwd(), TINY);
const TINY_48 = path.join(REPO, 'fixtures', 'models', 'tiny-bert-48');
const TOLERANCE = 1e-5;

function norm(v: Float32Array): number {
  let sum = 0;
  for (const x of v) sum += x * x;
  return Math.sqrt(sum);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

async function expectMigrateError(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<MigrateError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MigrateError);
  const migrateError = err as MigrateError;
  expect(migrateError.code).toBe(code);
  expect(migrateError.message).toMatch(pattern);
  return migrateError;
}

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

const TEXTS = [
  'The quick brown fox jumps over the lazy dog.',
  'Meeting notes: migrate the vector store to PostgreSQL before Friday.',
  'hello',
  'Numbers 12345 and punctuation!? plus unknown 漢字 and emoji 🚀',
];

describe('createEmbedder with the tiny-bert fixture', () => {
  let embedder: Embedder;
  const cleanup: string[] = [];

  beforeAll(async () => {
    embedder = await createEmbedder({ model: TINY_RELATIVE, allowRemoteModels: false });
  });

  afterAll(async () => {
    await embedder.dispose();
    for (const dir of cleanup) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads from a path relative to the working directory and reports the model and its dimensions', () => {
    expect(TINY_RELATIVE).not.toMatch(/^\//);
    expect(embedder.modelId).toBe(path.normalize(TINY_RELATIVE));
    expect(embedder.dimensions).toBe(32);
  });

  it('loads from an absolute path, and from a relative path shaped like a hub id', async () => {
    const absolute = await createEmbedder({ model: TINY, allowRemoteModels: true });
    // "models/tiny-bert" passes the hub-id test; it must still be read from <cwd>/models/tiny-bert.
    const hubShaped = await createEmbedder({ model: 'models/tiny-bert', cwd: path.join(REPO, 'fixtures'), allowRemoteModels: true });
    try {
      expect(absolute.modelId).toBe(TINY);
      expect(hubShaped.modelId).toBe('models/tiny-bert');
      const [a] = await absolute.embed([TEXTS[0] as string]);
      const [b] = await hubShaped.embed([TEXTS[0] as string]);
      const [c] = await embedder.embed([TEXTS[0] as string]);
      expect(maxAbsDiff(a as Float32Array, c as Float32Array)).toBe(0);
      expect(maxAbsDiff(b as Float32Array, c as Float32Array)).toBe(0);
    } finally {
      await absolute.dispose();
      await hubShaped.dispose();
    }
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('returns one unit-length vector of the right dimension per text, each in its own buffer', async () => {
    const vectors = await embedder.embed(TEXTS);
    expect(vectors).toHaveLength(TEXTS.length);
    for (const v of vectors) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v.length).toBe(32);
      expect(v.byteOffset).toBe(0);
      expect(v.buffer.byteLength).toBe(32 * 4);
      expect(Math.abs(norm(v) - 1)).toBeLessThan(TOLERANCE);
      expect(v.every((x) => Number.isFinite(x))).toBe(true);
    }
    expect(new Set(vectors.map((v) => v.buffer)).size).toBe(TEXTS.length);
  });

  it('is deterministic across calls and across embedders', async () => {
    const first = await embedder.embed(TEXTS);
    const second = await embedder.embed(TEXTS);
    const other = await createEmbedder({ model: TINY, allowRemoteModels: false });
    try {
      const third = await other.embed(TEXTS);
      first.forEach((v, i) => {
        expect(maxAbsDiff(v, second[i] as Float32Array)).toBe(0);
        expect(maxAbsDiff(v, third[i] as Float32Array)).toBe(0);
      });
    } finally {
      await other.dispose();
    }
  });

  it('loads tiny-bert-48: 48 dimensions, unit length, deterministic, and unlike tiny-bert on the same text', async () => {
    const other = await createEmbedder({ model: TINY_48, allowRemoteModels: false });
    try {
      expect(other.modelId).toBe(TINY_48);
      expect(other.dimensions).toBe(48);
      const first = await other.embed(TEXTS);
      const second = await other.embed(TEXTS);
      const small = await embedder.embed(TEXTS);
      first.forEach((v, i) => {
        expect(v.length).toBe(48);
        expect(Math.abs(norm(v) - 1)).toBeLessThan(TOLERANCE);
        expect(maxAbsDiff(v, second[i] as Float32Array)).toBe(0);
        // Not tiny-bert's vector padded or cut: its first 32 components differ too.
        expect(maxAbsDiff(v.slice(0, 32), small[i] as Float32Array)).toBeGreaterThan(1e-3);
      });
    } finally {
      await other.dispose();
    }
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('gives a text the same vector alone as inside a padded batch', async () => {
    const batch = await embedder.embed(TEXTS);
    for (let i = 0; i < TEXTS.length; i++) {
      const [alone] = await embedder.embed([TEXTS[i] as string]);
      expect(maxAbsDiff(alone as Float32Array, batch[i] as Float32Array)).toBeLessThan(TOLERANCE);
    }
  });

  it('gives different texts different vectors', async () => {
    const vectors = await embedder.embed([...TEXTS, 'the quick brown fox', 'the quick brown dog', 'fox brown quick the']);
    for (let i = 0; i < vectors.length; i++) {
      for (let j = i + 1; j < vectors.length; j++) {
        expect(maxAbsDiff(vectors[i] as Float32Array, vectors[j] as Float32Array)).toBeGreaterThan(1e-3);
      }
    }
  });

  it('matches mean pooling over a raw onnxruntime session, weighted by the attention mask, then L2-normalized', async () => {
    const ort = await import('onnxruntime-node');
    const { AutoTokenizer } = await import('@huggingface/transformers');
    const tokenizer = await AutoTokenizer.from_pretrained(TINY, { local_files_only: true });
    const session = await ort.InferenceSession.create(path.join(TINY, 'onnx', 'model.onnx'));
    try {
      const encoded = tokenizer(TEXTS, { padding: true, truncation: true });
      const [batch, seq] = encoded.input_ids.dims as [number, number];
      const mask = encoded.attention_mask.data as BigInt64Array;
      expect(Array.from(mask).some((m) => m === 0n)).toBe(true); // the batch really is padded
      const feeds = {
        input_ids: new ort.Tensor('int64', encoded.input_ids.data as BigInt64Array, [batch, seq]),
        attention_mask: new ort.Tensor('int64', mask, [batch, seq]),
        token_type_ids: new ort.Tensor('int64', new BigInt64Array(batch * seq), [batch, seq]),
      };
      const result = await session.run(feeds);
      const hiddenState = result['last_hidden_state'];
      expect(hiddenState?.dims).toEqual([batch, seq, 32]);
      const hidden = hiddenState?.data as Float32Array;

      const expected: Float32Array[] = [];
      for (let b = 0; b < batch; b++) {
        const sum = new Float64Array(32);
        let count = 0;
        for (let s = 0; s < seq; s++) {
          const weight = Number(mask[b * seq + s]);
          count += weight;
          for (let h = 0; h < 32; h++) sum[h] = (sum[h] as number) + weight * (hidden[(b * seq + s) * 32 + h] as number);
        }
        const mean = sum.map((x) => x / count);
        const length = Math.sqrt(mean.reduce((acc, x) => acc + x * x, 0));
        expected.push(Float32Array.from(mean, (x) => x / length));
      }

      const actual = await embedder.embed(TEXTS);
      actual.forEach((v, i) => expect(maxAbsDiff(v, expected[i] as Float32Array)).toBeLessThan(TOLERANCE));
    } finally {
      await session.release();
    }
  });

  it('truncates texts longer than the 512-token window instead of failing', async () => {
    const words = ['alpha', 'the', 'quick', 'zebra', 'data', 'store'];
    const head = Array.from({ length: 5000 }, (_, i) => words[i % words.length]).join(' ');
    const [a, b] = await embedder.embed([`${head} one ending`, `${head} a completely different ending`]);
    expect(a?.length).toBe(32);
    expect(Math.abs(norm(a as Float32Array) - 1)).toBeLessThan(TOLERANCE);
    // Everything after the first 512 tokens is cut, so the tails cannot matter.
    expect(maxAbsDiff(a as Float32Array, b as Float32Array)).toBe(0);
    // And the long text still batches with a short one.
    const [, short] = await embedder.embed([head, 'hello']);
    const [shortAlone] = await embedder.embed(['hello']);
    expect(maxAbsDiff(short as Float32Array, shortAlone as Float32Array)).toBeLessThan(TOLERANCE);
  });

  it('caps the window at max_position_embeddings when tokenizer_config.json has no model_max_length', async () => {
    const dir = tempDir('embedder-no-max-length-');
    cleanup.push(dir);
    fs.cpSync(TINY, dir, { recursive: true });
    const tokenizerConfig = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    delete tokenizerConfig['model_max_length'];
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
    const e = await createEmbedder({ model: dir, allowRemoteModels: false });
    try {
      const long = 'the quick brown fox '.repeat(1000);
      const [capped] = await e.embed([long]);
      const [reference] = await embedder.embed([long]);
      expect(maxAbsDiff(capped as Float32Array, reference as Float32Array)).toBe(0);
    } finally {
      await e.dispose();
    }
  });

  it('embeds an empty or blank string as [CLS][SEP] and an empty batch as no vectors', async () => {
    const [empty, blank] = await embedder.embed(['', ' \n\t ']);
    expect(Math.abs(norm(empty as Float32Array) - 1)).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(empty as Float32Array, blank as Float32Array)).toBe(0);
    await expect(embedder.embed([])).resolves.toEqual([]);
  });

  it('handles a batch of 64 mixed-length texts', async () => {
    const texts = Array.from({ length: 64 }, (_, i) => `${'note '.repeat(i * 7)}number ${i}`);
    const vectors = await embedder.embed(texts);
    expect(vectors).toHaveLength(64);
    const [last] = await embedder.embed([texts[63] as string]);
    expect(maxAbsDiff(last as Float32Array, vectors[63] as Float32Array)).toBeLessThan(TOLERANCE);
  });

  it("gives bit for bit what transformers.js's own pipeline gives with { pooling: 'mean', normalize: true }", async () => {
    // The embedder pools in its own code (src/transform/pooling.ts) for speed; the floats must not change.
    const { pipeline } = await import('@huggingface/transformers');
    const pipe = await pipeline('feature-extraction', path.resolve(TINY_RELATIVE), { local_files_only: true, device: 'cpu' });
    try {
      // Mixed lengths (padding) and one text past the model's 512 tokens (truncation).
      const texts = Array.from({ length: 24 }, (_, i) => `${'mixed length text '.repeat(1 + ((i * 5) % 23))}#${i}`);
      texts.push('much longer '.repeat(400));
      const theirs = await pipe(texts, { pooling: 'mean', normalize: true });
      const ours = await embedder.embed(texts);
      const width = embedder.dimensions;
      texts.forEach((_, i) => expect(ours[i]).toEqual((theirs.data as Float32Array).slice(i * width, (i + 1) * width)));
      theirs.dispose();
    } finally {
      await pipe.dispose();
    }
  });

  it('loads a hub id from the given cache directory with downloads disabled', async () => {
    const cacheDir = tempDir('embedder-cache-');
    cleanup.push(cacheDir);
    fs.cpSync(TINY, path.join(cacheDir, 'test-org', 'tiny-bert'), { recursive: true });
    // Loaded concurrently with a local model: the two loads need different library settings.
    const [cached, local] = await Promise.all([
      createEmbedder({ model: 'test-org/tiny-bert', cacheDir, allowRemoteModels: false }),
      createEmbedder({ model: TINY, allowRemoteModels: false }),
    ]);
    try {
      expect(cached.modelId).toBe('test-org/tiny-bert');
      const [a] = await cached.embed([TEXTS[1] as string]);
      const [b] = await local.embed([TEXTS[1] as string]);
      expect(maxAbsDiff(a as Float32Array, b as Float32Array)).toBe(0);
    } finally {
      await cached.dispose();
      await local.dispose();
    }
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('leaves transformers.js settings as it found them', async () => {
    const { env } = await import('@huggingface/transformers');
    const before = { remote: env.allowRemoteModels, local: env.allowLocalModels, cache: env.cacheDir, fsCache: env.useFSCache };
    const cacheDir = tempDir('embedder-cache-');
    cleanup.push(cacheDir);
    await expectMigrateError(createEmbedder({ model: 'test-org/absent', cacheDir, allowRemoteModels: false }), 'E_MODEL', /not in the cache/);
    const e = await createEmbedder({ model: TINY, allowRemoteModels: false });
    await e.dispose();
    expect({ remote: env.allowRemoteModels, local: env.allowLocalModels, cache: env.cacheDir, fsCache: env.useFSCache }).toEqual(before);
  });

  it('refuses to embed after dispose, and dispose is idempotent', async () => {
    const e = await createEmbedder({ model: TINY, allowRemoteModels: false });
    await e.dispose();
    await e.dispose();
    await expectMigrateError(e.embed(['hello']), 'E_EMBED', /disposed/);
  });
});

describe('createEmbedder errors', () => {
  const cleanup: string[] = [];
  afterAll(() => {
    for (const dir of cleanup) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports an uncached hub id with downloads disabled as E_MODEL, without touching the network', async () => {
    const cacheDir = tempDir('embedder-empty-cache-');
    cleanup.push(cacheDir);
    const err = await expectMigrateError(
      createEmbedder({ model: 'Xenova/all-MiniLM-L6-v2', cacheDir, allowRemoteModels: false }),
      'E_MODEL',
      /Xenova\/all-MiniLM-L6-v2 is not in the cache at .* and remote downloads are disabled: pass --model <local directory> or allow downloads/,
    );
    expect(err.message).toContain(cacheDir);
    // localFilesOnly wins over allowRemoteModels.
    await expectMigrateError(
      createEmbedder({ model: 'pgvector-migrate-test/no-such-model', cacheDir, allowRemoteModels: true, localFilesOnly: true }),
      'E_MODEL',
      /not in the cache/,
    );
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('reports a directory without ONNX weights as E_MODEL', async () => {
    const dir = tempDir('embedder-no-onnx-');
    cleanup.push(dir);
    for (const name of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(TINY, name), path.join(dir, name));
    await expectMigrateError(createEmbedder({ model: dir, allowRemoteModels: false }), 'E_MODEL', /has no ONNX weights \(expected onnx\/model\.onnx\)/);
    fs.mkdirSync(path.join(dir, 'onnx'));
    await expectMigrateError(createEmbedder({ model: dir, allowRemoteModels: false }), 'E_MODEL', /has no ONNX weights/);
  });

  it('reports a directory that is not a model, or lacks the dtype asked for, as E_MODEL', async () => {
    const empty = tempDir('embedder-empty-');
    cleanup.push(empty);
    await expectMigrateError(createEmbedder({ model: empty, allowRemoteModels: false }), 'E_MODEL', /has no config\.json/);
    await expectMigrateError(
      createEmbedder({ model: TINY, allowRemoteModels: false, dtype: 'fp16' }),
      'E_MODEL',
      /no onnx\/model_fp16\.onnx for dtype fp16; it has onnx\/model\.onnx, onnx\/model_quantized\.onnx/,
    );
  });

  it('reports a corrupt ONNX file as E_MODEL', async () => {
    const dir = tempDir('embedder-corrupt-');
    cleanup.push(dir);
    fs.cpSync(TINY, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'onnx', 'model.onnx'), 'not a protobuf');
    await expectMigrateError(createEmbedder({ model: dir, allowRemoteModels: false }), 'E_MODEL', /cannot load model/);
  });

  it('reports a model path that does not exist as E_CONFIG', async () => {
    await expectMigrateError(createEmbedder({ model: './no/such/model', allowRemoteModels: false }), 'E_CONFIG', /does not exist/);
    await expectMigrateError(createEmbedder({ model: '/no/such/model', allowRemoteModels: true }), 'E_CONFIG', /does not exist/);
    await expectMigrateError(createEmbedder({ model: path.join(TINY, 'config.json'), allowRemoteModels: false }), 'E_CONFIG', /is a file/);
    await expectMigrateError(createEmbedder({ model: '  ', allowRemoteModels: false }), 'E_CONFIG', /no embedding model/);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  // Last in the file: it is the one test that lets the library reach for the network.
  it('reports a failed download as E_MODEL (the spy above does intercept the library)', async () => {
    const cacheDir = tempDir('embedder-download-');
    cleanup.push(cacheDir);
    await expectMigrateError(
      createEmbedder({ model: 'pgvector-migrate-test/no-such-model', cacheDir, allowRemoteModels: true }),
      'E_MODEL',
      /cannot load model pgvector-migrate-test\/no-such-model from the cache at .* or the Hugging Face Hub: .*network access attempted in a test/,
    );
    expect(fetchSpy).toHaveBeenCalled();
    fetchSpy.mockClear();
  });
});
