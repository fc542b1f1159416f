#!/usr/bin/env node
// End to end: the built CLI, in its own process, on generated corpora of one store each, into
// PostgreSQL: documents/s and the process's peak RSS (GNU time's %M).
//   - re-embedding (MiniLM-shaped model) at 1k and 10k documents, twice: `migrate --model` from the
//     files, and `reembed --model` of a table holding the same store (the batch job after a model
//     change). Each rate of distinct texts is compared with the bare onnxruntime session on the
//     same model and ALL the same distinct texts (sorted by length across the whole store, tokenized
//     beforehand: the model's own cost, the most favourable batching there is), measured in this
//     run before and after the tool (the better of the two counts);
//   - keep mode (`--embeddings keep`, the stored vectors from the pickle) at 1k, 10k and 100k
//     documents: peak RSS must stay under 512 MB and flat as the store grows.
//
//   node scripts/bench-e2e.mjs [--quick] [--reembed 1000,10000] [--keep 1000,10000,100000] [--cli <bin.js>]
//
// --cli runs another build of the tool (say an older checkout's dist/cli/bin.js) for a before/after.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import pg from 'pg';
import { corpusTexts, DATABASE_URL, ensureBenchModel, ensureCorpus, fmt, info, int, loadavg, option, QUICK, REPO, report } from './bench-lib.mjs';

const sizes = (name, fallback) => option(name, fallback).split(',').filter(Boolean).map(Number);
const REEMBED = sizes('--reembed', QUICK ? '200' : '1000,10000');
const KEEP = sizes('--keep', QUICK ? '1000,5000' : '1000,10000,100000');
const RSS_LIMIT_MB = 512;
const BATCH = 32;
const CLI = path.resolve(option('--cli', path.join(REPO, 'dist', 'cli', 'bin.js')));

const model = ensureBenchModel();
const workDir = mkdtempSync(path.join(os.tmpdir(), 'pgvm-e2e-'));
const client = new pg.Client({ connectionString: DATABASE_URL });
await client.connect();

/** Runs the CLI under GNU time; returns its stdout, wall seconds and peak RSS (MB). */
async function timedCli(args, env = {}) {
  const child = spawn('/usr/bin/time', ['-f', 'PEAK_RSS_KB %M WALL_S %e', process.execPath, CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d) => (stderr += d.toString('utf8')));
  const code = await new Promise((resolve) => child.on('close', resolve));
  const match = /PEAK_RSS_KB (\d+) WALL_S ([\d.]+)/.exec(stderr);
  if (match === null || (code !== 0 && code !== 1)) throw new Error(`${args[0]} exited with ${code}: ${stderr.slice(-2000)}`);
  return { code, stdout, wallS: Number(match[2]), peakMb: Number(match[1]) / 1024 };
}

/** `migrate` of a corpus into `table`; returns its run report, run seconds, wall seconds and peak RSS (MB). */
async function migrate(corpus, table, extra) {
  const reportPath = path.join(workDir, `${table}.json`);
  const out = await timedCli(['migrate', corpus.root, '--database-url', DATABASE_URL, '--table', table, '--no-backup', '--json', '--report', reportPath, ...extra], {
    ENCRYPTION_MASTER_KEY: corpus.master_key,
  });
  const run = JSON.parse(readFileSync(reportPath, 'utf8'));
  if (run.totals.failed > 0) throw new Error(`stores failed: ${JSON.stringify(run.stores.filter((s) => s.status === 'failed').map((s) => s.error))}`);
  const runS = (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000;
  return { run, runS, wallS: out.wallS, peakMb: out.peakMb };
}

/** `reembed` of `table` with the bench model, swapped in; returns its report, wall seconds and peak RSS (MB). */
async function reembed(table) {
  const out = await timedCli(['reembed', '--database-url', DATABASE_URL, '--table', table, '--model', model, '--batch-size', String(BATCH), '--json']);
  const done = out.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .find((e) => e.type === 'reembed-done');
  if (out.code !== 0 || done === undefined || done.report.swap === null) throw new Error(`reembed did not finish: ${out.stdout.slice(-2000)}`);
  return { report: done.report, runS: done.report.durationMs / 1000, wallS: out.wallS, peakMb: out.peakMb };
}

async function drop(table) {
  await client.query(`DROP TABLE IF EXISTS "${table}", "${table}_previous", "${table}_reembed"`);
  // A swapped reembed leaves the old table as <table>_prev_<timestamp>.
  const { rows } = await client.query(`SELECT tablename FROM pg_tables WHERE tablename LIKE $1`, [`${table}\\_prev\\_%`]);
  for (const { tablename } of rows) await client.query(`DROP TABLE IF EXISTS "${tablename}"`);
}

/** The bare session's docs/s on `texts` (length-sorted across all of them, as the pipeline's limits allow; pre-tokenized). */
async function bareSession(texts) {
  const tf = await import('@huggingface/transformers');
  tf.env.allowRemoteModels = false;
  const tokenizer = await tf.AutoTokenizer.from_pretrained(model, { local_files_only: true });
  const { lengthSortedBatches } = await import('../dist/transform/batching.js');
  const lengths = texts.map((t) => Math.min(tokenizer.encode(t).length, tokenizer.model_max_length));
  const { BATCH_LIMITS } = await import('../dist/transform/embedder.js');
  const feeds = lengthSortedBatches(lengths, BATCH, BATCH_LIMITS).map((positions) => {
    const enc = tokenizer(
      positions.map((i) => texts[i]),
      { padding: true, truncation: true },
    );
    const tensor = (t) => new ort.Tensor('int64', t.data, t.dims);
    return { input_ids: tensor(enc.input_ids), attention_mask: tensor(enc.attention_mask), token_type_ids: tensor(enc.token_type_ids) };
  });
  const session = await ort.InferenceSession.create(path.join(model, 'onnx', 'model.onnx'));
  await session.run(feeds[0]);
  const t0 = performance.now();
  for (const feed of feeds) await session.run(feed);
  const rate = texts.length / ((performance.now() - t0) / 1000);
  await session.release();
  return rate;
}

try {
  if (CLI !== path.join(REPO, 'dist', 'cli', 'bin.js')) info(`# CLI: ${CLI}`);
  info(`# end to end: re-embed ${REEMBED.join(', ')} docs, keep ${KEEP.join(', ')} docs, one store each, into pg; load ${loadavg()}`);
  const reembedRss = [];
  const jobRss = [];
  for (const n of REEMBED) {
    const corpus = ensureCorpus(n);
    const distinct = corpus.stores.reduce((s, x) => s + x.distinct, 0);
    const texts = [...new Set(await corpusTexts(corpus))];
    if (texts.length !== distinct) throw new Error(`the corpus has ${texts.length} distinct texts, corpus.json says ${distinct}`);
    const before = await bareSession(texts);
    const table = `bench_e2e_reembed_${n}_${process.pid}`;
    await drop(table);
    const r = await migrate(corpus, table, ['--model', model, '--batch-size', String(BATCH)]);
    await drop(table);
    // The batch job: a table loaded with the stored vectors, re-embedded side by side and swapped.
    await migrate(corpus, table, ['--embeddings', 'keep']);
    const j = await reembed(table);
    await drop(table);
    const after = await bareSession(texts);
    const bare = Math.max(before, after);
    reembedRss.push(r.peakMb);
    jobRss.push(j.peakMb);
    info(
      `#   migrate --model ${int(n)} docs (${int(distinct)} distinct): run ${fmt(r.runS, 1)} s (process ${fmt(r.wallS, 1)} s), ${fmt(n / r.runS)} docs/s, ` +
        `peak RSS ${fmt(r.peakMb, 0)} MB; embedding ${fmt(r.run.totals.vectorizeMs / 1000, 1)} s, load ${fmt(r.run.totals.loadMs / 1000, 1)} s, index ${fmt((r.run.searchIndex?.ms ?? 0) / 1000, 1)} s`,
    );
    info(
      `#   reembed ${int(n)} rows: run ${fmt(j.runS, 1)} s (process ${fmt(j.wallS, 1)} s), peak RSS ${fmt(j.peakMb, 0)} MB; ` +
        `bare session on all ${int(distinct)} distinct texts ${fmt(before)} / ${fmt(after)} docs/s (load ${loadavg()})`,
    );
    report(`end to end migrate --model ${int(n)} docs: distinct texts/s vs bare session`, { value: distinct / r.runS, unit: 'docs/s', baseline: bare, baselineName: 'bare session', target: n >= 10000 ? 0.9 : null });
    report(`end to end reembed ${int(n)} rows: distinct texts/s vs bare session`, { value: distinct / j.runS, unit: 'docs/s', baseline: bare, baselineName: 'bare session', target: n >= 10000 ? 0.9 : null });
  }
  const keepRss = [];
  for (const n of KEEP) {
    const corpus = ensureCorpus(n);
    const table = `bench_e2e_keep_${n}_${process.pid}`;
    await drop(table);
    const r = await migrate(corpus, table, ['--embeddings', 'keep']);
    await drop(table);
    keepRss.push(r.peakMb);
    info(
      `#   keep ${int(n)} docs: run ${fmt(r.runS, 1)} s (process ${fmt(r.wallS, 1)} s), ${int(n / r.runS)} docs/s, peak RSS ${fmt(r.peakMb, 0)} MB; ` +
        `load ${fmt(r.run.totals.loadMs / 1000, 1)} s, index ${fmt((r.run.searchIndex?.ms ?? 0) / 1000, 1)} s (load ${loadavg()})`,
    );
    report(`end to end keep ${int(n)} docs: peak RSS vs the ${RSS_LIMIT_MB} MB limit`, { value: r.peakMb, unit: 'MB', baseline: RSS_LIMIT_MB, baselineName: 'limit', target: 1, higherIsBetter: false });
  }
  if (keepRss.length > 1) {
    report(`end to end keep: peak RSS at ${int(KEEP.at(-1))} vs ${int(KEEP[0])} docs (flat: <= 1.5x)`, { value: keepRss.at(-1), unit: 'MB', baseline: keepRss[0], baselineName: `${int(KEEP[0])} docs`, target: 1 / 1.5, higherIsBetter: false });
  }
  if (reembedRss.length > 1) {
    const sizes = `${int(REEMBED.at(-1))} vs ${int(REEMBED[0])} docs (flat: <= 1.5x)`;
    report(`end to end migrate --model: peak RSS at ${sizes}`, { value: reembedRss.at(-1), unit: 'MB', baseline: reembedRss[0], baselineName: `${int(REEMBED[0])} docs`, target: 1 / 1.5, higherIsBetter: false });
    report(`end to end reembed: peak RSS at ${sizes}`, { value: jobRss.at(-1), unit: 'MB', baseline: jobRss[0], baselineName: `${int(REEMBED[0])} docs`, target: 1 / 1.5, higherIsBetter: false });
  }
} finally {
  await client.end();
  rmSync(workDir, { recursive: true, force: true });
}
