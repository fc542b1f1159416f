#!/usr/bin/env node
// Embedding throughput on the MiniLM-shaped model and a mixed-length corpus (20 to 500 tokens):
// the pipeline's embedder (length-sorted batches) against
//   - the bare onnxruntime session on the same model, texts and batches (tokenized beforehand,
//     untimed: the floor of the model's own cost), and
//   - naive fixed-order batching (batches in source order, each padded to its longest text), and
//   - the model's q8 file (onnx/model_quantized.onnx, --dtype q8) on the same texts and batches,
//     with the mean and minimum cosine of its vectors to fp32's.
//
//   node scripts/bench-embed.mjs [--quick] [--texts N] [--batch B] [--rounds R]
//
// Variants run interleaved, R rounds each; the best round counts (the machine may be shared).

import path from 'node:path';
import ort from 'onnxruntime-node';
import { args, corpusTexts, describeLengths, ensureBenchModel, ensureCorpus, fmt, info, loadavg, option, QUICK, report } from './bench-lib.mjs';

const TEXTS = Number(option('--texts', QUICK ? 96 : 512));
const BATCH = Number(option('--batch', 32));
const ROUNDS = Number(option('--rounds', QUICK ? 1 : 3));
const SWEEP = args.includes('--sweep');

const model = ensureBenchModel();
const corpus = ensureCorpus(2000);
const texts = await corpusTexts(corpus, TEXTS);

const tf = await import('@huggingface/transformers');
tf.env.allowRemoteModels = false;
tf.env.allowLocalModels = true;
const tokenizer = await tf.AutoTokenizer.from_pretrained(model, { local_files_only: true });
const maxLength = tokenizer.model_max_length;
const lengths = texts.map((t) => Math.min(tokenizer.encode(t).length, maxLength));
const { lengthSortedBatches } = await import('../dist/transform/batching.js');
const { createEmbedder, BATCH_LIMITS } = await import('../dist/transform/embedder.js');

info(`# embedding: ${texts.length} texts, batch ${BATCH}, ${ROUNDS} round(s); ${describeLengths(lengths)}; load ${loadavg()}`);

const session = await ort.InferenceSession.create(path.join(model, 'onnx', 'model.onnx'));
function feedsFor(plan) {
  return plan.map((positions) => {
    const enc = tokenizer(
      positions.map((i) => texts[i]),
      { padding: true, truncation: true },
    );
    const tensor = (t) => new ort.Tensor('int64', t.data, t.dims);
    return { input_ids: tensor(enc.input_ids), attention_mask: tensor(enc.attention_mask), token_type_ids: tensor(enc.token_type_ids) };
  });
}
const inOrder = (size) => Array.from({ length: Math.ceil(texts.length / size) }, (_, b) => texts.map((_, i) => i).slice(b * size, (b + 1) * size));
// The same batches the pipeline makes, so the ratio is the pipeline's own overhead.
const sortedFeeds = feedsFor(lengthSortedBatches(lengths, BATCH, BATCH_LIMITS));
const naiveFeeds = feedsFor(inOrder(BATCH));
const paddedTokens = (feeds) => feeds.reduce((n, f) => n + Number(f.input_ids.dims[0]) * Number(f.input_ids.dims[1]), 0);
const realTokens = lengths.reduce((a, b) => a + b, 0);
info(`# tokens through the model: ${realTokens} real; padded to ${paddedTokens(naiveFeeds)} in source order, ${paddedTokens(sortedFeeds)} length-sorted`);

const embedder = await createEmbedder({ model, allowRemoteModels: false });
const q8 = await createEmbedder({ model, allowRemoteModels: false, dtype: 'q8' });
// Warm-up: graph optimisation and first allocations, for all three.
await embedder.embed(texts.slice(0, 4));
await q8.embed(texts.slice(0, 4));
await session.run(sortedFeeds[0]);

async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return texts.length / ((performance.now() - t0) / 1000);
}

const variants = {
  bareSorted: () =>
    timed(async () => {
      for (const feed of sortedFeeds) (await session.run(feed)).last_hidden_state.dispose?.();
    }),
  bareNaive: () =>
    timed(async () => {
      for (const feed of naiveFeeds) (await session.run(feed)).last_hidden_state.dispose?.();
    }),
  pipelineSorted: () => timed(() => embedder.embed(texts, { batchSize: BATCH })),
  q8Sorted: () => timed(() => q8.embed(texts, { batchSize: BATCH })),
  pipelineNaive: () =>
    timed(async () => {
      for (let i = 0; i < texts.length; i += BATCH) await embedder.embed(texts.slice(i, i + BATCH));
    }),
};
const best = Object.fromEntries(Object.keys(variants).map((k) => [k, 0]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, run] of Object.entries(variants)) {
    const rate = await run();
    best[name] = Math.max(best[name], rate);
    info(`#   round ${r + 1} ${name.padEnd(15)} ${fmt(rate)} docs/s (load ${loadavg()})`);
  }
}

report('embedding: pipeline (length-sorted) vs bare onnxruntime session', { value: best.pipelineSorted, unit: 'docs/s', baseline: best.bareSorted, baselineName: 'bare session', target: 0.9 });
report('embedding: length-sorted vs naive fixed-order batching', { value: best.pipelineSorted, unit: 'docs/s', baseline: best.pipelineNaive, baselineName: 'naive', target: 1.5 });
const { compareWithFp32 } = await import('../dist/transform/dtypeQuality.js');
const quality = await compareWithFp32(q8, embedder, texts, BATCH);
info(`# q8 against fp32 on the same ${quality.sampleSize} texts: mean cosine ${quality.meanCosine.toFixed(4)}, min ${quality.minCosine.toFixed(4)}`);
report(`embedding: q8 vs fp32 (cosine mean ${quality.meanCosine.toFixed(4)}, min ${quality.minCosine.toFixed(4)})`, { value: best.q8Sorted, unit: 'docs/s', baseline: best.pipelineSorted, baselineName: 'fp32', target: 1.5 });
report('embedding: bare session, sorted vs fixed-order (padding alone)', { value: best.bareSorted, unit: 'docs/s', baseline: best.bareNaive, baselineName: 'bare naive' });

if (SWEEP) {
  for (const size of [8, 16, 32, 64]) {
    let rate = 0;
    for (let r = 0; r < ROUNDS; r++) rate = Math.max(rate, await timed(() => embedder.embed(texts, { batchSize: size })));
    info(`#   batch ${String(size).padStart(2)} length-sorted: ${fmt(rate)} docs/s`);
  }
}
await embedder.dispose();
await q8.dispose();
