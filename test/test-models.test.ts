import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { bertReference, type BertShape } from './helpers/bertReference.js';
import { SHARED_TESTDATA } from './helpers/paths.js';

const { onnx } = onnxProto;

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCRIPT = path.join(REPO, 'scripts', 'make-test-models.mjs');
const MODELS = path.join(REPO, 'fixtures', 'models');
const TINY = path.join(MODELS, 'tiny-bert');
const TINY_48 = path.join(MODELS, 'tiny-bert-48');

/** The committed tiny models: directory, the script flag that regenerates it elsewhere, and its shape. */
const FIXTURES = [
  { name: 'tiny-bert', dir: TINY, flag: '--tiny', hidden: 32, intermediate: 64, onnx: ['onnx/model.onnx', 'onnx/model_quantized.onnx'] },
  { name: 'tiny-bert-48', dir: TINY_48, flag: '--tiny-48', hidden: 48, intermediate: 96, onnx: ['onnx/model.onnx'] },
] as const;
const TOKENIZER_FILES = ['special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'];
const MINILM_TOKENIZER = path.join(SHARED_TESTDATA, 'minilm-tokenizer');

const ALLOWED_OPS = new Set([
  'Gather', 'Add', 'LayerNormalization', 'MatMul', 'Reshape', 'Transpose', 'Softmax', 'Erf', 'Mul', 'Div', 'Sub',
  'Cast', 'Unsqueeze', 'Shape', 'Range', 'Squeeze',
]);

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

function runScript(args: string[]): string {
  return execFileSync(process.execPath, [SCRIPT, ...args], { cwd: os.tmpdir(), encoding: 'utf8' });
}

/** Relative path -> SHA-256 of every file under dir. */
function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (sub: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.posix.join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else out[rel] = crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, rel))).digest('hex');
    }
  };
  walk('');
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function loadModel(file: string): InstanceType<typeof onnx.ModelProto> {
  return onnx.ModelProto.decode(fs.readFileSync(file));
}

function initializerDims(graph: InstanceType<typeof onnx.GraphProto>): Record<string, number[]> {
  return Object.fromEntries(graph.initializer.map((t) => [t.name ?? '', (t.dims ?? []).map(Number)]));
}

/** The model's float initializers by name, for the reference computation. */
function weightsOf(file: string): (name: string) => Float32Array {
  const graph = loadModel(file).graph as InstanceType<typeof onnx.GraphProto>;
  const byName = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  return (name) => {
    const raw = byName.get(name)?.rawData;
    if (raw === undefined || raw === null) throw new Error(`no initializer ${name}`);
    return new Float32Array(Uint8Array.from(raw).buffer);
  };
}

/** Largest difference between onnxruntime's last_hidden_state and the reference, over the attended positions. */
async function differenceFromReference(file: string, shape: BertShape, inputIds: number[], mask: number[], types: number[]): Promise<number> {
  const session = await ort.InferenceSession.create(file);
  try {
    const out = await session.run({ input_ids: ids([inputIds]), attention_mask: ids([mask]), token_type_ids: ids([types]) });
    const state = (out['last_hidden_state'] as ort.Tensor).data as Float32Array;
    const expected = bertReference(weightsOf(file), shape, inputIds, mask, types);
    let max = 0;
    expected.forEach((row, t) => {
      if (mask[t] === 0) return;
      row.forEach((v, i) => (max = Math.max(max, Math.abs(v - (state[t * shape.hidden + i] as number)))));
    });
    return max;
  } finally {
    await session.release();
  }
}

function ids(rows: number[][]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]?.length ?? 0]);
}

describe('scripts/make-test-models.mjs', () => {
  it.each(FIXTURES)('regenerates the committed $name fixture byte for byte, every time', ({ name, dir, flag, onnx: onnxFiles }) => {
    const committed = hashTree(dir);
    expect(Object.keys(committed)).toEqual([
      'config.json',
      ...onnxFiles,
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const first = tempDir(`${name}-a-`);
    const second = tempDir(`${name}-b-`);
    runScript([flag, first]);
    runScript([flag, second]);
    expect(hashTree(first)).toEqual(committed);
    expect(hashTree(second)).toEqual(committed);
  });

  it('writes every tiny model in one run, each only where asked', () => {
    const out = tempDir('tiny-all-');
    runScript(FIXTURES.flatMap(({ name, flag }) => [flag, path.join(out, name)]));
    expect(fs.readdirSync(out).sort()).toEqual(FIXTURES.map((f) => f.name).sort());
    for (const { name, dir } of FIXTURES) expect(hashTree(path.join(out, name)), name).toEqual(hashTree(dir));
  });

  it.each(FIXTURES)('keeps the committed $name model small', ({ dir }) => {
    const total = Object.keys(hashTree(dir)).reduce((sum, rel) => sum + fs.statSync(path.join(dir, rel)).size, 0);
    expect(total).toBeLessThan(1024 * 1024);
  });

  it('gives tiny-bert-48 the same tokenizer files as tiny-bert but its own weights', () => {
    for (const name of TOKENIZER_FILES) {
      expect(fs.readFileSync(path.join(TINY_48, name)).equals(fs.readFileSync(path.join(TINY, name))), name).toBe(true);
    }
    // Another seed: even the slice both models share (the first word embedding row) differs.
    const firstRow = (dir: string): Float32Array => {
      const graph = loadModel(path.join(dir, 'onnx', 'model.onnx')).graph as InstanceType<typeof onnx.GraphProto>;
      const t = graph.initializer.find((i) => i.name === 'embeddings.word_embeddings.weight');
      return new Float32Array(new Uint8Array(t?.rawData ?? new Uint8Array(0)).buffer).slice(0, 32);
    };
    expect(Array.from(firstRow(TINY_48))).not.toEqual(Array.from(firstRow(TINY)));
  });
});

describe.each(FIXTURES)('the $name fixture', ({ dir, hidden, intermediate }) => {
  const config = readJson(path.join(dir, 'config.json'));
  const tokenizer = readJson(path.join(dir, 'tokenizer.json'));
  const vocab = (tokenizer['model'] as { vocab: Record<string, number> }).vocab;

  it('is a bert config of the promised size', () => {
    expect(config).toMatchObject({
      model_type: 'bert',
      hidden_size: hidden,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      intermediate_size: intermediate,
      max_position_embeddings: 512,
      type_vocab_size: 2,
      vocab_size: Object.keys(vocab).length,
    });
    expect(readJson(path.join(dir, 'tokenizer_config.json'))).toMatchObject({
      model_max_length: 512,
      tokenizer_class: 'BertTokenizer',
      do_lower_case: true,
    });
    expect(readJson(path.join(dir, 'special_tokens_map.json'))).toEqual({
      cls_token: '[CLS]',
      mask_token: '[MASK]',
      pad_token: '[PAD]',
      sep_token: '[SEP]',
      unk_token: '[UNK]',
    });
  });

  it('has a WordPiece tokenizer with contiguous ids, specials first, ASCII and ## pieces', () => {
    expect(tokenizer['normalizer']).toMatchObject({ type: 'BertNormalizer', lowercase: true });
    expect(tokenizer['pre_tokenizer']).toEqual({ type: 'BertPreTokenizer' });
    expect(tokenizer['post_processor']).toMatchObject({ type: 'TemplateProcessing' });
    expect(tokenizer['model']).toMatchObject({ type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##' });
    const size = Object.keys(vocab).length;
    expect(size).toBeGreaterThanOrEqual(300);
    expect(size).toBeLessThanOrEqual(2000);
    expect(Object.values(vocab).sort((a, b) => a - b)).toEqual(Array.from({ length: size }, (_, i) => i));
    expect(vocab['[PAD]']).toBe(0);
    for (const token of ['[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'z', '0', '!', '##a', '##ing', 'the', 'quick']) {
      expect(vocab[token], token).toBeTypeOf('number');
    }
  });

  it('is an opset-17 BERT graph built only from the expected operators, with raw float32 initializers', () => {
    const model = loadModel(path.join(dir, 'onnx', 'model.onnx'));
    expect(model.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17]]);
    const graph = model.graph as InstanceType<typeof onnx.GraphProto>;
    expect(graph.input.map((i) => [i.name, i.type?.tensorType?.elemType])).toEqual([
      ['input_ids', onnx.TensorProto.DataType.INT64],
      ['attention_mask', onnx.TensorProto.DataType.INT64],
      ['token_type_ids', onnx.TensorProto.DataType.INT64],
    ]);
    expect(graph.output.map((o) => o.name)).toEqual(['last_hidden_state']);
    const ops = graph.node.map((n) => n.opType ?? '');
    expect(ops.filter((op) => !ALLOWED_OPS.has(op))).toEqual([]);
    const count = (op: string): number => ops.filter((o) => o === op).length;
    expect(count('LayerNormalization')).toBe(1 + 2 * 2); // embeddings + 2 per layer
    expect(count('Softmax')).toBe(2);
    expect(count('Erf')).toBe(2);
    const dims = initializerDims(graph);
    expect(dims['embeddings.word_embeddings.weight']).toEqual([Object.keys(vocab).length, hidden]);
    expect(dims['embeddings.position_embeddings.weight']).toEqual([512, hidden]);
    expect(dims['embeddings.token_type_embeddings.weight']).toEqual([2, hidden]);
    expect(dims['encoder.layer.1.intermediate.dense.weight']).toEqual([hidden, intermediate]);
    for (const t of graph.initializer) {
      const elements = (t.dims ?? []).reduce((a: number, d) => a * Number(d), 1);
      const width = t.dataType === onnx.TensorProto.DataType.FLOAT ? 4 : 8;
      const raw = t.rawData ?? new Uint8Array(0);
      expect(raw.length, t.name ?? '').toBe(elements * width);
      expect(t.floatData ?? []).toHaveLength(0);
      if (t.dataType === onnx.TensorProto.DataType.FLOAT) {
        const copy = new Float32Array(new Uint8Array(raw).buffer);
        expect(copy.every((x) => Number.isFinite(x)), t.name ?? '').toBe(true);
      }
    }
  });

  it('computes a BERT encoder: its outputs are those of the same weights run through a reference forward pass', async () => {
    const v = (t: string): number => vocab[t] as number;
    const inputIds = [v('[CLS]'), v('the'), v('quick'), v('brown'), v('fox'), v('##ing'), v('[SEP]'), v('dog'), v('[SEP]'), 0, 0];
    const mask = inputIds.map((id) => (id === 0 ? 0 : 1));
    const types = inputIds.map((_, i) => (i >= 7 && i < 9 ? 1 : 0));
    const shape = { hidden, heads: 4, layers: 2, layerNormEps: 1e-12 };
    expect(await differenceFromReference(path.join(dir, 'onnx', 'model.onnx'), shape, inputIds, mask, types)).toBeLessThan(1e-4);
  });

  it('runs in onnxruntime as an encoder: the mask hides padding, and positions and token types matter', async () => {
    const session = await ort.InferenceSession.create(path.join(dir, 'onnx', 'model.onnx'));
    try {
      const run = async (inputIds: number[][], mask: number[][], types?: number[][]): Promise<Float32Array> => {
        const out = await session.run({
          input_ids: ids(inputIds),
          attention_mask: ids(mask),
          token_type_ids: ids(types ?? inputIds.map((row) => row.map(() => 0))),
        });
        const state = out['last_hidden_state'] as ort.Tensor;
        expect(state.dims).toEqual([inputIds.length, inputIds[0]?.length, hidden]);
        return state.data as Float32Array;
      };
      const [cls, sep] = [vocab['[CLS]'] as number, vocab['[SEP]'] as number];
      const [fox, dog] = [vocab['fox'] as number, vocab['dog'] as number];
      const plain = await run([[cls, fox, dog, sep]], [[1, 1, 1, 1]]);
      const padded = await run([[cls, fox, dog, sep, 0, 0]], [[1, 1, 1, 1, 0, 0]]);
      const maxDiff = (a: Float32Array, b: Float32Array, n: number): number => {
        let m = 0;
        for (let i = 0; i < n; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
        return m;
      };
      expect(maxDiff(plain, padded, 4 * hidden)).toBeLessThan(1e-5);
      const swapped = await run([[cls, dog, fox, sep]], [[1, 1, 1, 1]]);
      // Same bag of tokens, other order: the [CLS] row differs only through position embeddings.
      expect(maxDiff(plain, swapped, hidden)).toBeGreaterThan(1e-3);
      const typed = await run([[cls, fox, dog, sep]], [[1, 1, 1, 1]], [[0, 0, 1, 1]]);
      expect(maxDiff(plain, typed, hidden)).toBeGreaterThan(1e-3);
      const long = await run([Array.from({ length: 512 }, (_, i) => (i % 600) + 5)], [Array.from({ length: 512 }, () => 1)]);
      expect(long.every((x) => Number.isFinite(x))).toBe(true);
    } finally {
      await session.release();
    }
  });
});

/** Mean-pooled last_hidden_state of each sequence (attended tokens only). */
async function pooled(file: string, inputIds: number[][], mask: number[][], hidden: number): Promise<Float64Array[]> {
  const session = await ort.InferenceSession.create(file);
  try {
    const out = await session.run({ input_ids: ids(inputIds), attention_mask: ids(mask), token_type_ids: ids(inputIds.map((r) => r.map(() => 0))) });
    const state = (out['last_hidden_state'] as ort.Tensor).data as Float32Array;
    const length = inputIds[0]?.length ?? 0;
    return mask.map((row, b) => {
      const v = new Float64Array(hidden);
      row.forEach((m, t) => {
        if (m === 1) for (let i = 0; i < hidden; i++) v[i] = (v[i] as number) + (state[(b * length + t) * hidden + i] as number);
      });
      return v;
    });
  } finally {
    await session.release();
  }
}

function cosine(a: Float64Array, b: Float64Array): number {
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

/** Batches of random token ids (ids 5..vocab-1) with some padding, the same for both models. */
function randomBatch(vocab: number, rows: number, length: number): { inputIds: number[][]; mask: number[][] } {
  let state = 12345;
  const next = (): number => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  const inputIds = Array.from({ length: rows }, (_, r) => Array.from({ length }, (_, t) => (t < length - (r % 4) * 3 ? 5 + Math.floor(next() * (vocab - 5)) : 0)));
  return { inputIds, mask: inputIds.map((row) => row.map((id) => (id === 0 ? 0 : 1))) };
}

describe('the q8 variant of tiny-bert (onnx/model_quantized.onnx)', () => {
  const fp32File = path.join(TINY, 'onnx', 'model.onnx');
  const q8File = path.join(TINY, 'onnx', 'model_quantized.onnx');
  const q8 = loadModel(q8File).graph as InstanceType<typeof onnx.GraphProto>;
  const fp32 = loadModel(fp32File).graph as InstanceType<typeof onnx.GraphProto>;

  it('replaces every MatMul by a weight with DynamicQuantizeLinear + MatMulInteger, rescaled by the two scales', () => {
    const ops = (g: InstanceType<typeof onnx.GraphProto>, op: string): number => g.node.filter((n) => n.opType === op).length;
    const weighted = fp32.node.filter((n) => n.opType === 'MatMul' && fp32.initializer.some((t) => t.name === n.input?.[1])).length;
    expect(weighted).toBe(6 * 2); // q, k, v, output, intermediate, output dense per layer
    expect(ops(q8, 'MatMulInteger')).toBe(weighted);
    expect(ops(q8, 'MatMul')).toBe(ops(fp32, 'MatMul') - weighted); // attention scores and context stay float
    // One activation feeds query, key and value: quantized once.
    expect(ops(q8, 'DynamicQuantizeLinear')).toBe(4 * 2);
    for (const n of q8.node.filter((x) => x.opType === 'MatMulInteger')) {
      const weight = q8.initializer.find((t) => t.name === n.input?.[1]);
      expect(weight?.dataType, n.name ?? '').toBe(onnx.TensorProto.DataType.INT8);
      expect(q8.initializer.find((t) => t.name === n.input?.[3])?.dataType).toBe(onnx.TensorProto.DataType.INT8);
    }
    expect(q8.initializer.some((t) => t.name === 'encoder.layer.0.attention.self.query.weight')).toBe(false);
  });

  it('stores each weight as round(w / scale) within +-64 (reduce_range): dequantized, within half a step of the float weight', () => {
    for (const t of q8.initializer.filter((x) => x.name?.endsWith('.weight_quantized'))) {
      const name = (t.name ?? '').replace(/_quantized$/, '');
      const original = fp32.initializer.find((x) => x.name === name);
      const scaleT = q8.initializer.find((x) => x.name === `${name}_scale`);
      const zeroT = q8.initializer.find((x) => x.name === `${name}_zero_point`);
      const w = new Float32Array(Uint8Array.from(original?.rawData ?? []).buffer);
      const q = new Int8Array(Uint8Array.from(t.rawData ?? []).buffer);
      const scale = new Float32Array(Uint8Array.from(scaleT?.rawData ?? []).buffer)[0] as number;
      expect(new Int8Array(Uint8Array.from(zeroT?.rawData ?? []).buffer)[0], name).toBe(0);
      expect(q.length).toBe(w.length);
      const absMax = w.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      expect(scale).toBeCloseTo(absMax / 64, 6);
      let worst = 0;
      q.forEach((v, i) => (worst = Math.max(worst, Math.abs(v * scale - (w[i] as number)))));
      expect(worst, name).toBeLessThanOrEqual(scale / 2 + 1e-7);
      expect(Math.max(...q)).toBeLessThanOrEqual(64);
      expect(Math.min(...q)).toBeGreaterThanOrEqual(-64);
    }
  });

  it('computes nearly what fp32 computes: mean-pooled outputs at cosine > 0.99 on random texts', async () => {
    const vocab = Object.keys((readJson(path.join(TINY, 'tokenizer.json'))['model'] as { vocab: Record<string, number> }).vocab).length;
    const { inputIds, mask } = randomBatch(vocab, 8, 40);
    const a = await pooled(fp32File, inputIds, mask, 32);
    const b = await pooled(q8File, inputIds, mask, 32);
    const cosines = a.map((v, i) => cosine(v, b[i] as Float64Array));
    expect(Math.min(...cosines)).toBeGreaterThan(0.99);
    // Yet it is another model: the outputs are not the same numbers.
    expect(Math.min(...cosines)).toBeLessThan(1 - 1e-9);
  });
});

describe('make-test-models.mjs --minilm', () => {
  it('writes an all-MiniLM-L6-v2-shaped model with the real tokenizer files', async () => {
    const out = tempDir('minilm-random-');
    runScript(['--minilm', out]);
    for (const name of fs.readdirSync(MINILM_TOKENIZER)) {
      expect(fs.readFileSync(path.join(out, name)).equals(fs.readFileSync(path.join(MINILM_TOKENIZER, name))), name).toBe(true);
    }
    const model = loadModel(path.join(out, 'onnx', 'model.onnx'));
    const graph = model.graph as InstanceType<typeof onnx.GraphProto>;
    const dims = initializerDims(graph);
    expect(dims['embeddings.word_embeddings.weight']).toEqual([30522, 384]);
    expect(dims['encoder.layer.5.intermediate.dense.weight']).toEqual([384, 1536]);
    expect(graph.node.filter((n) => n.opType === 'Softmax')).toHaveLength(6);

    const session = await ort.InferenceSession.create(path.join(out, 'onnx', 'model.onnx'));
    try {
      const result = await session.run({ input_ids: ids([[101, 7592, 2088, 102]]), attention_mask: ids([[1, 1, 1, 1]]), token_type_ids: ids([[0, 0, 0, 0]]) });
      expect(result['last_hidden_state']?.dims).toEqual([1, 4, 384]);
    } finally {
      await session.release();
    }
    const shape = { hidden: 384, heads: 12, layers: 6, layerNormEps: 1e-12 };
    expect(await differenceFromReference(path.join(out, 'onnx', 'model.onnx'), shape, [101, 7592, 2088, 102, 0], [1, 1, 1, 1, 0], [0, 0, 0, 0, 0])).toBeLessThan(1e-4);
    // Its q8 variant, the same weights quantized, computes nearly the same.
    const { inputIds, mask } = randomBatch(30522, 4, 24);
    const a = await pooled(path.join(out, 'onnx', 'model.onnx'), inputIds, mask, 384);
    const b = await pooled(path.join(out, 'onnx', 'model_quantized.onnx'), inputIds, mask, 384);
    expect(Math.min(...a.map((v, i) => cosine(v, b[i] as Float64Array)))).toBeGreaterThan(0.99);
  });
});
