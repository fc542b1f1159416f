// Shared by the benchmark scripts (scripts/bench-*.mjs): the bench model and corpora (generated
// when missing), the machine's load, and printing a figure as a ratio next to its target.
// Everything here runs against dist/ (npm run bench builds first).

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BENCH_MODEL = path.join(REPO, 'bench-models', 'minilm-random');
/** Generated corpora (gitignored): written by Python, never by the code under test. */
export const BENCH_DATA = path.join(REPO, 'bench-data');
export const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/pgvector_migrate_test';

export const args = process.argv.slice(2);
export const QUICK = args.includes('--quick');

export function option(name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
}

export const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
export const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
export const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : String(x));

/** The MiniLM-shaped random model (scripts/make-test-models.mjs --minilm), made once. */
export function ensureBenchModel() {
  // A model generated before q8 variants existed lacks onnx/model_quantized.onnx: regenerate it.
  if (!existsSync(path.join(BENCH_MODEL, 'onnx', 'model.onnx')) || !existsSync(path.join(BENCH_MODEL, 'onnx', 'model_quantized.onnx'))) {
    console.log('# generating the MiniLM-shaped bench model (node scripts/make-test-models.mjs --minilm) ...');
    execFileSync(process.execPath, [path.join(REPO, 'scripts', 'make-test-models.mjs'), '--minilm', BENCH_MODEL], { stdio: 'inherit' });
  }
  return BENCH_MODEL;
}

/**
 * A corpus of `docs` documents in `users` stores (scripts/bench_corpus.py), made once per shape
 * under bench-data/. Returns its root (the user_data directory) and description.
 */
export function ensureCorpus(docs, { users = 1, dupRate = 0.03 } = {}) {
  const dir = path.join(BENCH_DATA, `corpus-${docs}-u${users}-d${dupRate}`);
  const described = path.join(dir, 'corpus.json');
  if (!existsSync(described)) {
    console.log(`# generating ${docs} documents in ${users} store(s) with Python (scripts/bench_corpus.py) ...`);
    execFileSync('python3', [path.join(REPO, 'scripts', 'bench_corpus.py'), '--out', dir, '--docs', String(docs), '--users', String(users), '--dup-rate', String(dupRate)], {
      stdio: 'inherit',
    });
  }
  return { root: path.join(dir, 'user_data'), ...JSON.parse(readFileSync(described, 'utf8')) };
}

/** The texts of a corpus, read through the tool's own source reader (decrypting). */
export async function corpusTexts(corpus, limit = Infinity) {
  const { discoverStores } = await import('../dist/source/discover.js');
  const { readStoreRecords } = await import('../dist/source/store.js');
  const { deriveUserKey } = await import('../dist/source/keys.js');
  const { extractEntry } = await import('../dist/transform/extract.js');
  const texts = [];
  for await (const event of discoverStores(corpus.root)) {
    if (event.kind !== 'store') continue;
    const key = await deriveUserKey(event.store.userId, corpus.master_key);
    for await (const record of readStoreRecords(event.store, key, { withVectors: false })) {
      const extracted = extractEntry(record.entry, record.index);
      if (extracted.kind === 'text') texts.push(extracted.text);
      if (texts.length >= limit) return texts;
    }
  }
  return texts;
}

/** Records printed lines so the runner can collect them; also prints them. */
export const results = [];

/**
 * One figure against its baseline: "name  value unit  baseline  ratio  target  PASS/FAIL".
 * `target` is the least ratio the issue asks for (null: informative only).
 */
export function report(name, { value, unit, baseline, baselineName, target = null, higherIsBetter = true }) {
  const ratio = higherIsBetter ? value / baseline : baseline / value;
  const verdict = target === null ? '' : ratio >= target ? 'PASS' : 'FAIL';
  const line = `${name.padEnd(72)} ${fmt(value, value < 100 ? 1 : 0).padStart(9)} ${unit.padEnd(7)} vs ${baselineName} ${fmt(baseline, baseline < 100 ? 1 : 0)}: ${fmt(ratio, 2)}x${target === null ? '' : `  (target >= ${fmt(target, 2)}x) ${verdict}`}`;
  console.log(line);
  results.push({ name, value, unit, baseline, baselineName, ratio, target, verdict });
  return ratio;
}

export function info(line) {
  console.log(line);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Token counts of the texts (the bench model's tokenizer), for the corpus description. */
export function describeLengths(counts) {
  const s = [...counts].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `tokens min ${s[0]} p25 ${q(0.25)} median ${q(0.5)} p75 ${q(0.75)} p95 ${q(0.95)} max ${s.at(-1)}`;
}
