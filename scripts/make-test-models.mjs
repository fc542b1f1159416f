#!/usr/bin/env node
// Writes deterministic BERT encoders in the layout transformers.js loads from a local directory
// (config.json, tokenizer files, onnx/model.onnx). The weights come from a seeded PRNG, so the
// vectors these models produce are reproducible but carry no meaning.
//
//   node scripts/make-test-models.mjs                     -> every tiny model into fixtures/models/<name>
//                                                            (tiny-bert and tiny-bert-48, both committed)
//
// tiny-bert and the MiniLM-shaped model also get onnx/model_quantized.onnx (the q8 dtype): the
// same weights dynamically quantized (quantizeDynamicMatMul below).
//   node scripts/make-test-models.mjs --tiny <outDir>     -> the same tiny-bert into <outDir>
//   node scripts/make-test-models.mjs --tiny-48 <outDir>  -> the same tiny-bert-48 into <outDir>
//   node scripts/make-test-models.mjs --minilm [outDir]   -> all-MiniLM-L6-v2-shaped model with random
//                                                            weights (~90 MB) into <outDir>, default
//                                                            bench-models/minilm-random (gitignored)
//   [--tokenizer-dir <dir>]  where the MiniLM tokenizer files come from
//                            (default ../shared/testdata/minilm-tokenizer)
//
// Every byte written depends only on this file: no clocks, no Math.random, no transcendental
// functions in weight generation (only +, *, Math.fround and Math.sqrt, which IEEE 754 defines
// exactly), JSON written with fixed key order.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE_MODELS_DIR = path.join(REPO_ROOT, 'fixtures', 'models');
const DEFAULT_MINILM_DIR = path.join(REPO_ROOT, 'bench-models', 'minilm-random');
// shared/ sits beside the checkout (as in CI's fresh clone).
const DEFAULT_MINILM_TOKENIZER_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'testdata', 'minilm-tokenizer');

const OPSET = 17;
const IR_VERSION = 8;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const AttrType = onnx.AttributeProto.AttributeType;

// ---------------------------------------------------------------------------------------------
// Deterministic random numbers

/** mulberry32: a 32-bit state PRNG; returns uniforms in [0, 1) with 32 bits of resolution. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Float32 tensor data drawn uniformly with mean `mean` and standard deviation `std`. */
function uniform(rng, count, std, mean = 0) {
  const half = std * Math.sqrt(3); // U(-h, h) has standard deviation h / sqrt(3)
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = mean + (rng() * 2 - 1) * half;
  return out;
}

// ---------------------------------------------------------------------------------------------
// ONNX graph building helpers

function littleEndianBytes(typedArray) {
  const bytes = new Uint8Array(typedArray.buffer, typedArray.byteOffset, typedArray.byteLength);
  if (os.endianness() === 'LE') return bytes;
  // ONNX raw_data is little-endian; swap each element on big-endian hosts.
  const swapped = new Uint8Array(bytes.length);
  const width = typedArray.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytes.length; i += width) {
    for (let j = 0; j < width; j++) swapped[i + j] = bytes[i + width - 1 - j];
  }
  return swapped;
}

function floatTensor(name, dims, data) {
  if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`bad size for ${name}`);
  return onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: littleEndianBytes(data) });
}

function int64Tensor(name, dims, values) {
  const data = BigInt64Array.from(values.map((v) => BigInt(v)));
  return onnx.TensorProto.create({ name, dims, dataType: INT64, rawData: littleEndianBytes(data) });
}

function attrInt(name, i) {
  return onnx.AttributeProto.create({ name, type: AttrType.INT, i });
}
function attrFloat(name, f) {
  return onnx.AttributeProto.create({ name, type: AttrType.FLOAT, f });
}
function attrInts(name, ints) {
  return onnx.AttributeProto.create({ name, type: AttrType.INTS, ints });
}

function tensorValueInfo(name, elemType, dims) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
}

class GraphBuilder {
  constructor() {
    this.nodes = [];
    this.initializers = [];
    this.counter = 0;
  }

  node(opType, inputs, attributes = [], name = undefined) {
    const nodeName = name ?? `${opType}_${this.counter++}`;
    const output = `${nodeName}_out`;
    this.nodes.push(onnx.NodeProto.create({ opType, input: inputs, output: [output], name: nodeName, attribute: attributes }));
    return output;
  }

  init(tensor) {
    this.initializers.push(tensor);
    return tensor.name;
  }

  floatConst(name, value) {
    return this.init(floatTensor(name, [], Float32Array.of(value)));
  }

  int64Const(name, values, scalar = false) {
    return this.init(int64Tensor(name, scalar ? [] : [values.length], values));
  }
}

// ---------------------------------------------------------------------------------------------
// The BERT encoder

/**
 * Builds a BERT encoder (the graph shape PyTorch exports for BertModel, so onnxruntime's BERT
 * fusions apply): word + position + token-type embeddings, LayerNorm, then per layer multi-head
 * self-attention with an additive mask, residual + LayerNorm, erf-GELU feed-forward, residual +
 * LayerNorm. Output `last_hidden_state` is [batch, sequence, hidden].
 */
function buildBertModel(arch, seed, docString) {
  const { vocabSize, hidden, layers, heads, intermediate, maxPositions, typeVocabSize, layerNormEps } = arch;
  if (hidden % heads !== 0) throw new Error('hidden size must be divisible by the number of heads');
  const headDim = hidden / heads;
  const rng = mulberry32(seed);
  const g = new GraphBuilder();

  // Initializers are drawn in a fixed order; changing this order changes every weight.
  const embStd = 0.5;
  const linear = (prefix, fanIn, fanOut) => ({
    weight: g.init(floatTensor(`${prefix}.weight`, [fanIn, fanOut], uniform(rng, fanIn * fanOut, 1 / Math.sqrt(fanIn)))),
    bias: g.init(floatTensor(`${prefix}.bias`, [fanOut], uniform(rng, fanOut, 0.02))),
  });
  const layerNormParams = (prefix) => ({
    gamma: g.init(floatTensor(`${prefix}.weight`, [hidden], uniform(rng, hidden, 0.05, 1))),
    beta: g.init(floatTensor(`${prefix}.bias`, [hidden], uniform(rng, hidden, 0.02))),
  });

  const wordEmb = g.init(floatTensor('embeddings.word_embeddings.weight', [vocabSize, hidden], uniform(rng, vocabSize * hidden, embStd)));
  const posEmb = g.init(floatTensor('embeddings.position_embeddings.weight', [maxPositions, hidden], uniform(rng, maxPositions * hidden, embStd)));
  const typeEmb = g.init(floatTensor('embeddings.token_type_embeddings.weight', [typeVocabSize, hidden], uniform(rng, typeVocabSize * hidden, embStd)));
  const embLn = layerNormParams('embeddings.LayerNorm');

  const layerParams = [];
  for (let l = 0; l < layers; l++) {
    const p = `encoder.layer.${l}`;
    layerParams.push({
      q: linear(`${p}.attention.self.query`, hidden, hidden),
      k: linear(`${p}.attention.self.key`, hidden, hidden),
      v: linear(`${p}.attention.self.value`, hidden, hidden),
      o: linear(`${p}.attention.output.dense`, hidden, hidden),
      ln1: layerNormParams(`${p}.attention.output.LayerNorm`),
      ffIn: linear(`${p}.intermediate.dense`, hidden, intermediate),
      ffOut: linear(`${p}.output.dense`, intermediate, hidden),
      ln2: layerNormParams(`${p}.output.LayerNorm`),
    });
  }

  // Constants
  const one = g.floatConst('const_one', 1);
  const half = g.floatConst('const_half', 0.5);
  const sqrt2 = g.floatConst('const_sqrt2', Math.SQRT2);
  const scale = g.floatConst('const_attention_scale', Math.sqrt(headDim));
  // (1 - mask) * lowest float32, as transformers' get_extended_attention_mask does.
  const maskFill = g.floatConst('const_mask_fill', -3.4028234663852886e38);
  const int0 = g.int64Const('const_i64_zero', [0], true);
  const int1 = g.int64Const('const_i64_one', [1], true);
  const axes0 = g.int64Const('const_axes_0', [0]);
  const axes1 = g.int64Const('const_axes_1', [1]);
  const axes2 = g.int64Const('const_axes_2', [2]);
  const splitHeadsShape = g.int64Const('const_shape_split_heads', [0, 0, heads, headDim]);
  const mergeHeadsShape = g.int64Const('const_shape_merge_heads', [0, 0, hidden]);

  const layerNorm = (x, params) =>
    g.node('LayerNormalization', [x, params.gamma, params.beta], [attrInt('axis', -1), attrFloat('epsilon', layerNormEps)]);
  const dense = (x, params) => g.node('Add', [g.node('MatMul', [x, params.weight]), params.bias]);

  // Embeddings: positions are 0..seq-1, built from the input's shape so any length up to maxPositions works.
  const words = g.node('Gather', [wordEmb, 'input_ids'], [attrInt('axis', 0)]);
  const shape = g.node('Shape', ['input_ids'], [attrInt('start', 1), attrInt('end', 2)]); // [seq]
  const seqLen = g.node('Squeeze', [shape, axes0]); // scalar seq
  const positionIds = g.node('Unsqueeze', [g.node('Range', [int0, seqLen, int1]), axes0]); // [1, seq]
  const positions = g.node('Gather', [posEmb, positionIds], [attrInt('axis', 0)]); // [1, seq, hidden]
  const types = g.node('Gather', [typeEmb, 'token_type_ids'], [attrInt('axis', 0)]);
  let x = layerNorm(g.node('Add', [g.node('Add', [words, types]), positions]), embLn);

  // Extended attention mask: [batch, 1, 1, seq], 0 where attended, lowest float where padded.
  const mask4d = g.node('Unsqueeze', [g.node('Unsqueeze', ['attention_mask', axes1]), axes2]);
  const maskFloat = g.node('Cast', [mask4d], [attrInt('to', FLOAT)]);
  const additiveMask = g.node('Mul', [g.node('Sub', [one, maskFloat]), maskFill]);

  for (const p of layerParams) {
    const splitHeads = (t, perm) => g.node('Transpose', [g.node('Reshape', [t, splitHeadsShape])], [attrInts('perm', perm)]);
    const q = splitHeads(dense(x, p.q), [0, 2, 1, 3]); // [b, h, s, d]
    const kT = splitHeads(dense(x, p.k), [0, 2, 3, 1]); // [b, h, d, s]
    const v = splitHeads(dense(x, p.v), [0, 2, 1, 3]); // [b, h, s, d]
    const scores = g.node('Add', [g.node('Div', [g.node('MatMul', [q, kT]), scale]), additiveMask]);
    const probs = g.node('Softmax', [scores], [attrInt('axis', -1)]);
    const context = g.node('Reshape', [
      g.node('Transpose', [g.node('MatMul', [probs, v])], [attrInts('perm', [0, 2, 1, 3])]),
      mergeHeadsShape,
    ]);
    x = layerNorm(g.node('Add', [dense(context, p.o), x]), p.ln1);

    const inner = dense(x, p.ffIn);
    const erf = g.node('Erf', [g.node('Div', [inner, sqrt2])]);
    const gelu = g.node('Mul', [g.node('Mul', [inner, g.node('Add', [erf, one])]), half]);
    x = layerNorm(g.node('Add', [dense(gelu, p.ffOut), x]), p.ln2);
  }

  // The last node computes the encoder output; name it `last_hidden_state` (no Identity node needed).
  const last = g.nodes[g.nodes.length - 1];
  if (last.output[0] !== x) throw new Error('the final LayerNormalization must be the last node');
  last.output = ['last_hidden_state'];

  const graph = onnx.GraphProto.create({
    name: 'bert',
    docString,
    node: g.nodes,
    initializer: g.initializers,
    input: [
      tensorValueInfo('input_ids', INT64, ['batch_size', 'sequence_length']),
      tensorValueInfo('attention_mask', INT64, ['batch_size', 'sequence_length']),
      tensorValueInfo('token_type_ids', INT64, ['batch_size', 'sequence_length']),
    ],
    output: [tensorValueInfo('last_hidden_state', FLOAT, ['batch_size', 'sequence_length', hidden])],
  });

  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'pgvector-migrate/scripts/make-test-models.mjs',
    producerVersion: '1',
    docString,
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

// ---------------------------------------------------------------------------------------------
// Dynamic int8 quantization (what onnxruntime's quantize_dynamic writes as model_quantized.onnx)

const UINT8 = onnx.TensorProto.DataType.UINT8;
const INT8 = onnx.TensorProto.DataType.INT8;

/** numpy's rounding (half to even), which onnxruntime's quantizer uses. */
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * One weight tensor quantized per tensor as onnxruntime's quantize_data does: QUInt8 is
 * asymmetric over [min(w, 0), max(w, 0)] with a zero point; QInt8 is symmetric (zero point 0,
 * range +-127, onnxruntime's default for int8 weights). The scale is a float32, as numpy keeps it.
 */
export function quantizeWeights(data, weightType, reduceRange = false) {
  let min = 0;
  let max = 0;
  for (const v of data) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const out = weightType === 'uint8' ? new Uint8Array(data.length) : new Int8Array(data.length);
  let scale;
  let zeroPoint;
  if (weightType === 'uint8') {
    scale = Math.fround((max - min) / 255);
    zeroPoint = scale === 0 ? 0 : Math.min(255, Math.max(0, roundHalfEven(0 - min / scale)));
  } else {
    scale = Math.fround(Math.max(Math.abs(min), Math.abs(max)) / (reduceRange ? 64 : 127));
    zeroPoint = 0;
  }
  const [lo, hi] = weightType === 'uint8' ? [0, 255] : reduceRange ? [-64, 64] : [-127, 127];
  for (let i = 0; i < data.length; i++) out[i] = scale === 0 ? zeroPoint : Math.min(hi, Math.max(lo, roundHalfEven(data[i] / scale) + zeroPoint));
  return { data: out, scale: scale === 0 ? 1 : scale, zeroPoint };
}

function floatData(tensor) {
  const raw = tensor.rawData;
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  if (os.endianness() !== 'LE') throw new Error('quantization reads little-endian raw data only');
  return new Float32Array(copy.buffer);
}

/**
 * The model with every MatMul by a float initializer replaced the way onnxruntime's
 * quantize_dynamic (QOperator format, per-tensor) replaces it: the activation goes through
 * DynamicQuantizeLinear (uint8, scale and zero point computed per call), the weight is stored
 * quantized with its scale and zero point as initializers, MatMulInteger multiplies in integers,
 * and the int32 result is cast back and scaled by activation scale x weight scale. An activation
 * feeding several MatMuls (query, key, value) is quantized once. MatMuls of two activations
 * (attention scores) and everything else stay float, as do the embedding tables.
 *
 * The default is int8 weights with reduce_range (7 bits, +-64), onnxruntime's advice for CPUs
 * without VNNI: its u8s8 kernel on AVX2 sums pairs of products in int16 and saturates with full
 * 8-bit weights (measured on the MiniLM-shaped model: mean cosine to fp32 0.951 at full range,
 * 0.9997 with reduce_range, at the same speed).
 */
export function quantizeDynamicMatMul(modelBytes, { weightType = 'int8', reduceRange = true } = {}) {
  const model = onnx.ModelProto.decode(modelBytes);
  const graph = model.graph;
  const inits = new Map(graph.initializer.map((t) => [t.name, t]));
  const qType = weightType === 'uint8' ? UINT8 : INT8;
  const newInits = [];
  const replaced = new Set();
  const quantizedInputs = new Map();
  const nodes = [];
  const node = (opType, name, input, output, attribute = []) => onnx.NodeProto.create({ opType, name, input, output, attribute });
  for (const n of graph.node) {
    const weight = n.opType === 'MatMul' ? inits.get(n.input[1]) : undefined;
    if (weight === undefined || weight.dataType !== FLOAT || weight.dims.length !== 2) {
      nodes.push(n);
      continue;
    }
    const x = n.input[0];
    let q = quantizedInputs.get(x);
    if (q === undefined) {
      q = { data: `${x}_quantized`, scale: `${x}_scale`, zeroPoint: `${x}_zero_point` };
      nodes.push(node('DynamicQuantizeLinear', `${x}_QuantizeLinear`, [x], [q.data, q.scale, q.zeroPoint]));
      quantizedInputs.set(x, q);
    }
    const w = quantizeWeights(floatData(weight), weightType, reduceRange);
    const wName = weight.name;
    newInits.push(
      onnx.TensorProto.create({ name: `${wName}_quantized`, dims: weight.dims, dataType: qType, rawData: new Uint8Array(w.data.buffer) }),
      floatTensor(`${wName}_scale`, [], Float32Array.of(w.scale)),
      onnx.TensorProto.create({ name: `${wName}_zero_point`, dims: [], dataType: qType, rawData: new Uint8Array(weightType === 'uint8' ? Uint8Array.of(w.zeroPoint).buffer : Int8Array.of(w.zeroPoint).buffer) }),
    );
    replaced.add(wName);
    const y = n.output[0];
    nodes.push(
      node('MatMulInteger', `${n.name}_quant`, [q.data, `${wName}_quantized`, q.zeroPoint, `${wName}_zero_point`], [`${y}_output_quantized`]),
      node('Cast', `${y}_output_quantized_cast`, [`${y}_output_quantized`], [`${y}_output_quantized_cast_output`], [attrInt('to', FLOAT)]),
      node('Mul', `${n.name}_scales_mul`, [q.scale, `${wName}_scale`], [`${n.name}_scales_mul:0`]),
      node('Mul', `${n.name}_output_scale_mul`, [`${y}_output_quantized_cast_output`, `${n.name}_scales_mul:0`], [y]),
    );
  }
  graph.node = nodes;
  graph.initializer = [...graph.initializer.filter((t) => !replaced.has(t.name)), ...newInits];
  model.docString = `${model.docString} (dynamically quantized: MatMul weights ${weightType}${reduceRange ? ' reduce_range' : ''}, per tensor)`;
  graph.docString = model.docString;
  return onnx.ModelProto.encode(model).finish();
}

// ---------------------------------------------------------------------------------------------
// The tiny WordPiece tokenizer

const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

// Common English words (lowercase). Anything else falls back to word pieces and single characters.
const COMMON_WORDS = `
the of and to a in is it you that he was for on are with as i his they be at one have this from
or had by not word but what some we can out other were all there when up use your how said an each
she which do their time if will way about many then them write would like so these her long make
thing see him two has look more day could go come did number sound no most people my over know
water than call first who may down side been now find any new work part take get place made live
where after back little only round man year came show every good me give our under name very
through just form sentence great think say help low line differ turn cause much mean before move
right boy old too same tell does set three want air well also play small end put home read hand
port large spell add even land here must big high such follow act why ask men change went light
kind off need house picture try us again animal point mother world near build self earth father
head stand own page should country found answer school grow study still learn plant cover food sun
four between state keep eye never last let thought city tree cross farm hard start might story saw
far sea draw left late run don't while press close night real life few north open seem together
next white children begin got walk example ease paper group always music those both mark often
letter until mile river car feet care second book carry took science eat room friend began idea
fish mountain stop once base hear horse cut sure watch color face wood main enough plain girl usual
young ready above ever red list though feel talk bird soon body dog family direct pose leave song
measure door product black short numeral class wind question happen complete ship area half rock
order fire south problem piece told knew pass since top whole king space heard best hour better
true during hundred five remember step early hold west ground interest reach fast verb sing listen
six table travel less morning ten simple several vowel toward war lay against pattern slow center
love person money serve appear road map rain rule govern pull cold notice voice unit power town
fine certain fly fall lead cry dark machine note wait plan figure star box noun field rest correct
able pound done beauty drive stood contain front teach week final gave green oh quick develop ocean
warm free minute strong special mind behind clear tail produce fact street inch multiply nothing
course stay wheel full force blue object decide surface deep moon island foot system busy test
record boat common gold possible plane stead dry wonder laugh thousand ago ran check game shape
equate hot miss brought heat snow tire bring yes distant fill east paint language among
data vector store user note meeting search query embed model document text file record database
table index migrate key value report email project customer invoice price order account password
fox jumps lazy brown dogs cat cats hello world quick testing tests
`
  .split(/\s+/)
  .filter((w) => w.length > 0);

const SUFFIXES = [
  's', 'es', 'ed', 'ing', 'ly', 'er', 'ers', 'est', 'tion', 'tions', 'ment', 'ments', 'ness', 'able',
  'ible', 'al', 'ful', 'less', 'ous', 'ive', 'ize', 'ise', 'ity', 'ies', 'ied', 'y', 'en', 'ian',
  'ist', 'ism', 're', 'th', 'st', 'nd', 'rd', 'an', 'in', 'on', 'or', 'ar', 'at', 'it', 'ic', 'le',
  'ch', 'sh', 'ck', 'ng', 'nt', 'ts', 'te', 'se', 'ce', 'de', 'ge', 've', 'ne', 'me', 'ke', 'pe',
];

function buildTinyVocab() {
  const vocab = [...SPECIAL_TOKENS];
  // Printable ASCII except uppercase letters (the normalizer lowercases before lookup).
  for (let c = 33; c <= 126; c++) {
    if (c >= 65 && c <= 90) continue;
    vocab.push(String.fromCharCode(c));
  }
  for (const ch of 'abcdefghijklmnopqrstuvwxyz0123456789') vocab.push(`##${ch}`);
  for (const suffix of SUFFIXES) vocab.push(`##${suffix}`);
  for (const word of COMMON_WORDS) {
    // BertPreTokenizer splits on punctuation, so only words made of letters/digits are reachable.
    if (/^[a-z0-9]+$/.test(word)) vocab.push(word);
  }
  const seen = new Set();
  return vocab.filter((t) => (seen.has(t) ? false : (seen.add(t), true)));
}

function tokenizerJson(vocabList) {
  const vocab = {};
  vocabList.forEach((token, id) => {
    vocab[token] = id;
  });
  const id = (t) => vocab[t];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content) => ({
      id: id(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}

/** Shared by every tiny model; `vocabSize` is set from the vocabulary. */
const TINY_BASE_ARCH = {
  vocabSize: 0,
  maxPositions: 512,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
};

/**
 * The committed tiny models: one spec each, all with the same tokenizer. `flag` is the CLI option
 * that writes the model elsewhere. Changing a spec (or its seed) changes that fixture's bytes.
 */
export const TINY_MODELS = [
  { name: 'tiny-bert', flag: '--tiny', seed: 0x7e57b3a7, arch: { hidden: 32, layers: 2, heads: 4, intermediate: 64 }, q8: true },
  { name: 'tiny-bert-48', flag: '--tiny-48', seed: 0x7e57b348, arch: { hidden: 48, layers: 2, heads: 4, intermediate: 96 } },
];

const MINILM_ARCH = {
  vocabSize: 30522,
  hidden: 384,
  layers: 6,
  heads: 12,
  intermediate: 1536,
  maxPositions: 512,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
};

function bertConfig(arch) {
  return {
    architectures: ['BertModel'],
    attention_probs_dropout_prob: 0.1,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    hidden_size: arch.hidden,
    initializer_range: 0.02,
    intermediate_size: arch.intermediate,
    layer_norm_eps: arch.layerNormEps,
    max_position_embeddings: arch.maxPositions,
    model_type: 'bert',
    num_attention_heads: arch.heads,
    num_hidden_layers: arch.layers,
    pad_token_id: 0,
    position_embedding_type: 'absolute',
    type_vocab_size: arch.typeVocabSize,
    vocab_size: arch.vocabSize,
  };
}

const json = (value) => `${JSON.stringify(value, null, 2)}\n`;

function writeFile(file, content) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

// ---------------------------------------------------------------------------------------------
// Writers

const MINILM_SEED = 0x3a1a1384;

function tinySpec(name) {
  const spec = TINY_MODELS.find((m) => m.name === name);
  if (!spec) throw new Error(`unknown tiny model: ${name}`);
  return spec;
}

/** Writes the tiny model `name` (see TINY_MODELS) into outDir, self-contained (tokenizer included). */
export function writeTinyModel(name, outDir) {
  const spec = tinySpec(name);
  const vocabList = buildTinyVocab();
  const arch = { ...TINY_BASE_ARCH, ...spec.arch, vocabSize: vocabList.length };
  const padId = vocabList.indexOf('[PAD]');
  if (padId !== 0) throw new Error('[PAD] must have id 0');

  writeFile(path.join(outDir, 'config.json'), json(bertConfig(arch)));
  writeFile(path.join(outDir, 'tokenizer.json'), json(tokenizerJson(vocabList)));
  writeFile(
    path.join(outDir, 'tokenizer_config.json'),
    json({
      clean_up_tokenization_spaces: true,
      cls_token: '[CLS]',
      do_basic_tokenize: true,
      do_lower_case: true,
      mask_token: '[MASK]',
      model_max_length: 512,
      never_split: null,
      pad_token: '[PAD]',
      sep_token: '[SEP]',
      strip_accents: null,
      tokenize_chinese_chars: true,
      tokenizer_class: 'BertTokenizer',
      unk_token: '[UNK]',
    }),
  );
  writeFile(
    path.join(outDir, 'special_tokens_map.json'),
    json({ cls_token: '[CLS]', mask_token: '[MASK]', pad_token: '[PAD]', sep_token: '[SEP]', unk_token: '[UNK]' }),
  );
  const doc = `${spec.name} test model: random weights (mulberry32 seed ${spec.seed}), vectors carry no meaning`;
  const fp32 = buildBertModel(arch, spec.seed, doc);
  writeFile(path.join(outDir, 'onnx', 'model.onnx'), fp32);
  if (spec.q8 === true) writeFile(path.join(outDir, 'onnx', 'model_quantized.onnx'), quantizeDynamicMatMul(fp32));
  return { dir: outDir, vocabSize: arch.vocabSize, hidden: arch.hidden };
}

export function writeTinyBert(outDir) {
  return writeTinyModel('tiny-bert', outDir);
}

export function writeMiniLmRandom(outDir, tokenizerDir) {
  const config = JSON.parse(fs.readFileSync(path.join(tokenizerDir, 'config.json'), 'utf8'));
  const expected = bertConfig(MINILM_ARCH);
  for (const key of ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'vocab_size', 'max_position_embeddings', 'type_vocab_size']) {
    if (config[key] !== expected[key]) {
      throw new Error(`${tokenizerDir}/config.json has ${key}=${config[key]}, expected ${expected[key]} (all-MiniLM-L6-v2)`);
    }
  }
  // Copy by content (not fs.copyFile) so read-only source modes don't make the copies unwritable.
  for (const name of fs.readdirSync(tokenizerDir).sort()) {
    const src = path.join(tokenizerDir, name);
    if (fs.statSync(src).isFile()) writeFile(path.join(outDir, name), fs.readFileSync(src));
  }
  const doc = `all-MiniLM-L6-v2-shaped benchmark model: random weights (mulberry32 seed ${MINILM_SEED}), vectors carry no meaning`;
  const fp32 = buildBertModel(MINILM_ARCH, MINILM_SEED, doc);
  writeFile(path.join(outDir, 'onnx', 'model.onnx'), fp32);
  writeFile(path.join(outDir, 'onnx', 'model_quantized.onnx'), quantizeDynamicMatMul(fp32));
  return { dir: outDir, vocabSize: MINILM_ARCH.vocabSize };
}

function main(argv) {
  /** tiny model name -> output directory, in TINY_MODELS order. */
  const tinyDirs = new Map();
  let minilmDir = null;
  let tokenizerDir = DEFAULT_MINILM_TOKENIZER_DIR;
  const args = [...argv];
  const takeValue = (flag, optional) => {
    const next = args[0];
    if (next !== undefined && !next.startsWith('--')) return args.shift();
    if (optional) return null;
    throw new Error(`${flag} needs a directory`);
  };
  while (args.length > 0) {
    const arg = args.shift();
    const tiny = TINY_MODELS.find((m) => m.flag === arg);
    if (tiny) tinyDirs.set(tiny.name, path.resolve(takeValue(arg, false)));
    else if (arg === '--minilm') minilmDir = path.resolve(takeValue(arg, true) ?? DEFAULT_MINILM_DIR);
    else if (arg === '--tokenizer-dir') tokenizerDir = path.resolve(takeValue(arg, false));
    else if (arg === '--help' || arg === '-h') {
      const tinyUsage = TINY_MODELS.map((m) => `[${m.flag} <outDir>]`).join(' ');
      console.log(`usage: node scripts/make-test-models.mjs ${tinyUsage} [--minilm [outDir]] [--tokenizer-dir <dir>]`);
      return;
    } else throw new Error(`unknown argument: ${arg}`);
  }
  if (tinyDirs.size === 0 && minilmDir === null) {
    for (const m of TINY_MODELS) tinyDirs.set(m.name, path.join(FIXTURE_MODELS_DIR, m.name));
  }

  for (const m of TINY_MODELS) {
    const outDir = tinyDirs.get(m.name);
    if (outDir === undefined) continue;
    const { dir, vocabSize, hidden } = writeTinyModel(m.name, outDir);
    console.log(`${m.name} (hidden ${hidden}, vocab ${vocabSize}) -> ${dir}`);
  }
  if (minilmDir !== null) {
    const { dir } = writeMiniLmRandom(minilmDir, tokenizerDir);
    console.log(`minilm-random -> ${dir}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    console.error(`make-test-models: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
