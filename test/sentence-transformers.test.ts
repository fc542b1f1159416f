/**
 * A model directory's sentence-transformers files (sentence_bert_config.json, modules.json,
 * 1_Pooling/config.json) decide the window, the pooling and the normalization, as Python's
 * sentence-transformers reads them; without them nothing changes, the fingerprint included.
 * Model directories are tiny-bert plus the JSON files those Python configs hold; reference
 * vectors come from the ONNX model run directly (onnxruntime) or from the plain model given the
 * token-truncated text.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MigrateError } from '../src/errors.js';
import { sha256OfFile } from '../src/hash.js';
import { createEmbedder, type Embedder } from '../src/transform/embedder.js';
import { modelSpace, serializeSpace } from '../src/transform/embeddingSpace.js';

// Installed before any import runs: transformers.js binds globalThis.fetch when it is first imported.
const fetchSpy = vi.hoisted(() =>
  vi.spyOn(globalThis, 'fetch').mockImplementation(() => Promise.reject(new Error('network access attempted in a test'))),
);

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TINY = path.join(REPO, 'fixtures', 'models', 'tiny-bert');
const WIDTH = 32;

const cleanup: string[] = [];
afterAll(() => {
  for (const dir of cleanup) fs.rmSync(dir, { recursive: true, force: true });
});

/** The files a sentence-transformers model directory adds to the transformer's. */
interface StFiles {
  sbert?: Record<string, unknown>;
  modules?: Record<string, unknown>[];
  pooling?: Record<string, unknown>;
  poolingDir?: string;
}

const TRANSFORMER = { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' };
const POOLING = { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' };
const NORMALIZE = { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' };

function poolingConfig(mode: 'mean' | 'cls' | 'max'): Record<string, unknown> {
  // As sentence-transformers 3.x writes it.
  return {
    word_embedding_dimension: WIDTH,
    pooling_mode_cls_token: mode === 'cls',
    pooling_mode_mean_tokens: mode === 'mean',
    pooling_mode_max_tokens: mode === 'max',
    pooling_mode_mean_sqrt_len_tokens: false,
    pooling_mode_weightedmean_tokens: false,
    pooling_mode_lasttoken: false,
    include_prompt: true,
  };
}

function modelDir(files: StFiles, tweak?: (dir: string) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-model-'));
  cleanup.push(dir);
  fs.cpSync(TINY, dir, { recursive: true });
  if (files.sbert !== undefined) fs.writeFileSync(path.join(dir, 'sentence_bert_config.json'), JSON.stringify(files.sbert));
  if (files.modules !== undefined) fs.writeFileSync(path.join(dir, 'modules.json'), JSON.stringify(files.modules));
  if (files.pooling !== undefined) {
    const poolingDir = path.join(dir, files.poolingDir ?? '1_Pooling');
    fs.mkdirSync(poolingDir, { recursive: true });
    fs.writeFileSync(path.join(poolingDir, 'config.json'), JSON.stringify(files.pooling));
  }
  tweak?.(dir);
  return dir;
}

async function withEmbedder<T>(dir: string, use: (e: Embedder) => Promise<T>): Promise<T> {
  const e = await createEmbedder({ model: dir, allowRemoteModels: false });
  try {
    return await use(e);
  } finally {
    await e.dispose();
  }
}

async function expectModelError(dir: string, pattern: RegExp): Promise<void> {
  const err = await createEmbedder({ model: dir, allowRemoteModels: false }).then(
    async (e) => {
      await e.dispose();
      return null;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MigrateError);
  expect((err as MigrateError).code).toBe('E_MODEL');
  expect((err as MigrateError).message).toMatch(pattern);
}

function norm(v: Float32Array): number {
  return Math.sqrt(v.reduce((acc, x) => acc + x * x, 0));
}

type Ort = typeof import('onnxruntime-node');
type Tokenizer = Awaited<ReturnType<(typeof import('@huggingface/transformers'))['AutoTokenizer']['from_pretrained']>>;
let ort: Ort;
let session: import('onnxruntime-node').InferenceSession;
let tokenizer: Tokenizer;

beforeAll(async () => {
  ort = await import('onnxruntime-node');
  const { AutoTokenizer } = await import('@huggingface/transformers');
  tokenizer = await AutoTokenizer.from_pretrained(TINY, { local_files_only: true });
  session = await ort.InferenceSession.create(path.join(TINY, 'onnx', 'model.onnx'));
});

afterAll(async () => {
  await session.release();
});

/** The model's token vectors for one text, unpadded: [tokens][WIDTH], straight from onnxruntime. */
async function hiddenStates(text: string): Promise<Float32Array[]> {
  const encoded = tokenizer([text], { padding: true, truncation: true });
  const [batch, seq] = encoded.input_ids.dims as [number, number];
  const feeds = {
    input_ids: new ort.Tensor('int64', encoded.input_ids.data as BigInt64Array, [batch, seq]),
    attention_mask: new ort.Tensor('int64', encoded.attention_mask.data as BigInt64Array, [batch, seq]),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(batch * seq), [batch, seq]),
  };
  const hidden = (await session.run(feeds))['last_hidden_state']?.data as Float32Array;
  return Array.from({ length: seq }, (_, t) => hidden.slice(t * WIDTH, (t + 1) * WIDTH));
}

const TEXTS = ['The quick brown fox jumps over the lazy dog.', 'hello', 'Numbers 12345 and punctuation!? plus 漢字 and emoji 🚀'];

describe('a model directory without sentence-transformers files', () => {
  it('keeps the fingerprint byte for byte as it was (so existing rows are still reused)', async () => {
    const sha = (await sha256OfFile(path.join(TINY, 'onnx', 'model.onnx'))).sha256;
    await withEmbedder(TINY, async (e) => {
      expect(serializeSpace(modelSpace(e.identity, 'vector'))).toBe(
        `{"dimensions":32,"model":${JSON.stringify(TINY)},"modelSha256":"${sha}","normalized":true,"onnxFile":"onnx/model.onnx","pooling":"mean","vectorType":"vector"}`,
      );
    });
  });

  it('gives the same fingerprint and vectors with files that ask for what it always did (mean, Normalize, no max_seq_length)', async () => {
    const dir = modelDir({ modules: [TRANSFORMER, POOLING, NORMALIZE], pooling: poolingConfig('mean'), sbert: { do_lower_case: false } });
    await withEmbedder(TINY, async (plain) =>
      withEmbedder(dir, async (st) => {
        expect({ ...st.identity, model: null }).toEqual({ ...plain.identity, model: null });
        expect(await st.embed(TEXTS)).toEqual(await plain.embed(TEXTS));
      }),
    );
  });
});

describe('sentence_bert_config.json max_seq_length', () => {
  // Words of one token each in tiny-bert's vocabulary (checked below).
  const WORDS = ['quick', 'store', 'data', 'the', 'fox', 'dog', 'word'];
  const words = (n: number): string => Array.from({ length: n }, (_, i) => WORDS[i % WORDS.length]).join(' ');
  const long = words(300);

  it('embeds a longer text exactly as its first max_seq_length tokens, ending with [SEP] as Python truncates, and records it in the fingerprint', async () => {
    const st = modelDir({ sbert: { max_seq_length: 16, do_lower_case: false } });
    // 16 tokens: [CLS], the first 14 words, [SEP].
    const head = words(14);
    expect((tokenizer(head, { return_tensor: false }) as unknown as { input_ids: number[] }).input_ids).toHaveLength(16);
    await withEmbedder(TINY, async (plain) => {
      const [expected] = await plain.embed([head]);
      const [full] = await plain.embed([long]);
      await withEmbedder(st, async (e) => {
        const texts = [long, `${long} with another ending`, words(15), head, 'short text'];
        const ours = await e.embed(texts);
        expect(ours[0]).toEqual(expected);
        expect(ours[1]).toEqual(expected); // what follows the window cannot matter
        expect(ours[2]).toEqual(expected); // one token over: the 15th word gives way to [SEP]
        expect(ours[3]).toEqual(expected); // exactly at the window: unchanged
        expect(ours[4]).toEqual((await plain.embed(['short text']))[0]);
        expect(ours[0]).not.toEqual(full); // not the 512-token window
        expect(e.identity).toMatchObject({ maxSeqLength: 16, pooling: 'mean', normalized: true });
      });
    });
  });

  it('tokenizes a 1M-character text only up to max_seq_length, with the same vector as its short prefix', async () => {
    const st = modelDir({ sbert: { max_seq_length: 32 } });
    const huge = 'the quick brown fox jumps over the lazy dog '.repeat(25_000);
    await withEmbedder(st, async (e) => {
      const [a, b] = await e.embed([huge, huge.slice(0, 2000)]);
      expect(a).toEqual(b);
    });
  });

  it('never widens the window past the tokenizer’s', async () => {
    const st = modelDir({ sbert: { max_seq_length: 4096 } });
    await withEmbedder(TINY, async (plain) =>
      withEmbedder(st, async (e) => expect(await e.embed([words(1200)])).toEqual(await plain.embed([words(510)]))),
    );
  });
});

describe('1_Pooling/config.json and modules.json', () => {
  it('cls pooling without Normalize is the first token’s hidden state', async () => {
    const dir = modelDir({ modules: [TRANSFORMER, POOLING], pooling: poolingConfig('cls') });
    await withEmbedder(dir, async (e) => {
      expect(e.identity).toMatchObject({ pooling: 'cls', normalized: false });
      const vectors = await e.embed(TEXTS); // one padded batch: cls must ignore the padding
      for (const [i, text] of TEXTS.entries()) expect(vectors[i]).toEqual((await hiddenStates(text))[0]);
    });
  });

  it('cls pooling with Normalize is the first token’s hidden state at unit length', async () => {
    const dir = modelDir({ modules: [TRANSFORMER, POOLING, NORMALIZE], pooling: poolingConfig('cls') });
    await withEmbedder(dir, async (e) => {
      for (const text of TEXTS) {
        const [v] = await e.embed([text]);
        const first = (await hiddenStates(text))[0] as Float32Array;
        const n = norm(first);
        expect(Math.abs(norm(v as Float32Array) - 1)).toBeLessThan(1e-6);
        (v as Float32Array).forEach((x, k) => expect(x).toBeCloseTo((first[k] as number) / n, 6));
      }
    });
  });

  it('max pooling is the element-wise maximum over the text’s tokens, never over padding', async () => {
    const dir = modelDir({ modules: [TRANSFORMER, POOLING], pooling: poolingConfig('max') });
    await withEmbedder(dir, async (e) => {
      expect(e.identity).toMatchObject({ pooling: 'max', normalized: false });
      const vectors = await e.embed(TEXTS);
      for (const [i, text] of TEXTS.entries()) {
        const tokens = await hiddenStates(text);
        const expected = Float32Array.from({ length: WIDTH }, (_, k) => Math.max(...tokens.map((t) => t[k] as number)));
        expect(vectors[i]).toEqual(expected);
      }
    });
  });

  it('without a Normalize module, mean pooling is the plain mean: not unit length', async () => {
    const dir = modelDir({ modules: [TRANSFORMER, POOLING], pooling: poolingConfig('mean') });
    await withEmbedder(dir, async (e) => {
      expect(e.identity).toMatchObject({ pooling: 'mean', normalized: false });
      const vectors = await e.embed(TEXTS);
      for (const [i, text] of TEXTS.entries()) {
        const tokens = await hiddenStates(text);
        const sums = new Float64Array(WIDTH);
        for (const t of tokens) t.forEach((x, k) => (sums[k] = (sums[k] as number) + x));
        expect(vectors[i]).toEqual(Float32Array.from(sums, (s) => s / tokens.length));
        expect(Math.abs(norm(vectors[i] as Float32Array) - 1)).toBeGreaterThan(1e-3);
      }
    });
  });

  it('reads the pooling config where modules.json says it is', async () => {
    const dir = modelDir({ modules: [TRANSFORMER, { ...POOLING, path: 'pool' }], pooling: poolingConfig('cls'), poolingDir: 'pool' });
    await withEmbedder(dir, async (e) => expect(e.identity).toMatchObject({ pooling: 'cls', normalized: false }));
  });

  it('uses 1_Pooling/config.json without modules.json, and keeps normalizing then', async () => {
    const dir = modelDir({ pooling: poolingConfig('max') });
    await withEmbedder(dir, async (e) => {
      expect(e.identity).toMatchObject({ pooling: 'max', normalized: true });
      const [v] = await e.embed(['hello']);
      expect(Math.abs(norm(v as Float32Array) - 1)).toBeLessThan(1e-6);
    });
  });

  it('gives every combination its own fingerprint', async () => {
    const dirs = [
      TINY,
      modelDir({ sbert: { max_seq_length: 16 } }),
      modelDir({ modules: [TRANSFORMER, POOLING], pooling: poolingConfig('mean') }),
      modelDir({ modules: [TRANSFORMER, POOLING, NORMALIZE], pooling: poolingConfig('cls') }),
      modelDir({ modules: [TRANSFORMER, POOLING], pooling: poolingConfig('cls') }),
      modelDir({ modules: [TRANSFORMER, POOLING, NORMALIZE], pooling: poolingConfig('max') }),
    ];
    const prints = new Set<string>();
    for (const dir of dirs) await withEmbedder(dir, async (e) => void prints.add(JSON.stringify({ ...e.identity, model: null })));
    expect(prints.size).toBe(dirs.length);
  });

  it('reads the files of a cached hub model, without touching the network', async () => {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-cache-'));
    cleanup.push(cacheDir);
    const dir = modelDir({ modules: [TRANSFORMER, POOLING], pooling: poolingConfig('cls'), sbert: { max_seq_length: 16 } });
    fs.cpSync(dir, path.join(cacheDir, 'test-org', 'tiny-st'), { recursive: true });
    const e = await createEmbedder({ model: 'test-org/tiny-st', cacheDir, allowRemoteModels: false });
    try {
      expect(e.identity).toMatchObject({ model: 'test-org/tiny-st', pooling: 'cls', normalized: false, maxSeqLength: 16 });
      await withEmbedder(dir, async (local) => expect(await e.embed(TEXTS)).toEqual(await local.embed(TEXTS)));
    } finally {
      await e.dispose();
    }
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});

describe('sentence-transformers settings this tool cannot reproduce', () => {
  it('refuses unsupported pooling modes, naming them', async () => {
    await expectModelError(modelDir({ pooling: { ...poolingConfig('mean'), pooling_mode_mean_tokens: false, pooling_mode_weightedmean_tokens: true } }), /pooling_mode_weightedmean_tokens/);
    await expectModelError(modelDir({ pooling: { ...poolingConfig('mean'), pooling_mode_lasttoken: true } }), /pooling_mode_lasttoken/);
    await expectModelError(modelDir({ pooling: { ...poolingConfig('mean'), pooling_mode_mean_sqrt_len_tokens: true } }), /pooling_mode_mean_sqrt_len_tokens/);
    await expectModelError(modelDir({ pooling: { ...poolingConfig('mean'), pooling_mode_cls_token: true } }), /2 pooling modes/);
    await expectModelError(modelDir({ pooling: { ...poolingConfig('mean'), pooling_mode_mean_tokens: false } }), /no pooling mode/);
    await expectModelError(modelDir({ pooling: { ...poolingConfig('mean'), pooling_mode_future: 'x' } }), /pooling_mode_future/);
  });

  it('refuses modules it cannot run, prompts, lowercasing and a bad max_seq_length', async () => {
    await expectModelError(
      modelDir({ modules: [TRANSFORMER, POOLING, { idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' }, NORMALIZE], pooling: poolingConfig('mean') }),
      /sentence_transformers\.models\.Dense/,
    );
    await expectModelError(modelDir({ modules: [TRANSFORMER, NORMALIZE] }), /no sentence_transformers\.models\.Pooling/);
    await expectModelError(modelDir({ modules: [TRANSFORMER, POOLING] }), /1_Pooling, which has no config\.json/);
    await expectModelError(modelDir({ sbert: { max_seq_length: 256, default_prompt_name: 'query', prompts: { query: 'query: ' } } }), /default_prompt_name/);
    await expectModelError(modelDir({ sbert: { max_seq_length: 256, do_lower_case: true } }), /do_lower_case/);
    await expectModelError(modelDir({ sbert: { max_seq_length: 'long' } }), /max_seq_length "long"/);
    await expectModelError(modelDir({}, (dir) => fs.writeFileSync(path.join(dir, 'modules.json'), '{not json')), /modules\.json is not valid JSON/);
  });
});
