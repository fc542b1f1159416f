#!/usr/bin/env node
// Workers sharing one queued migration (issue 14 item 7), the built CLI on real PostgreSQL:
//   (a) 1 worker process with 2 onnxruntime threads against (b) 2 worker processes with 1 thread
//       each, both draining the same plan (`migrate ROOT --enqueue --model M`, then `worker
//       --drain`) of a --docs-document corpus in --stores stores; documents/s from the workers'
//       start to the last one's exit (model load, the finish job's HNSW build and the drain's
//       last poll included). On 2 cores, (b)'s 2 processes compete for the same cores as (a)'s 2
//       threads: the ratio is what the coordination costs, not how far more machines scale;
//   (c) the per-job overhead (claim + per-store plan + ledger): --tiny stores of 1 document each
//       (keep mode: no model) drained by one worker, against the same stores loaded by a plain
//       `migrate`; (worker wall - migrate wall) / stores;
//   and the figures of the many-machines model (BENCHMARKS.md): the database connections a
//   worker holds (pg_stat_activity, sampled), the COPY rate and the HNSW build of the same corpus
//   loaded in keep mode (its run report).
//
//   node scripts/bench-workers.mjs [--quick] [--docs N] [--stores S] [--tiny M] [--rounds R] [--cli <bin.js>]
//
// Variants run interleaved, R rounds each; the best round counts (the machine may be shared).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { DATABASE_URL, ensureBenchModel, ensureCorpus, fmt, info, int, loadavg, option, QUICK, REPO, report } from './bench-lib.mjs';

const DOCS = Number(option('--docs', QUICK ? 500 : 10000));
const STORES = Number(option('--stores', 20));
const TINY = Number(option('--tiny', QUICK ? 20 : 100));
const ROUNDS = Number(option('--rounds', 1));
const BATCH = 32;
const CLI = path.resolve(option('--cli', path.join(REPO, 'dist', 'cli', 'bin.js')));
const VARIANTS = {
  'a: 1 worker x 2 threads': { workers: 1, threads: 2 },
  'b: 2 workers x 1 thread': { workers: 2, threads: 1 },
};

const model = ensureBenchModel();
const corpus = ensureCorpus(DOCS, { users: STORES });
const tiny = ensureCorpus(TINY, { users: TINY });
const workDir = mkdtempSync(path.join(os.tmpdir(), 'pgvm-workers-'));
const client = new pg.Client({ connectionString: DATABASE_URL });
await client.connect();
const database = (await client.query('SELECT current_database() AS db')).rows[0].db;

/** Runs the CLI to its exit; returns its exit code, JSON lines, wall seconds and stderr. */
function cli(args, env, onLine = () => undefined) {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let buffer = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    buffer += d.toString('utf8');
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    for (const line of parts) {
      if (!line.startsWith('{')) continue;
      const event = { ...JSON.parse(line), at: performance.now() };
      lines.push(event);
      onLine(event);
    }
  });
  child.stderr.on('data', (d) => (stderr += d.toString('utf8')));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, lines, wallS: (performance.now() - started) / 1000, stderr })));
}

async function drop(table) {
  await client.query(`DROP TABLE IF EXISTS "${table}", "${table}_previous"`);
}

const db = (table) => ['--database-url', DATABASE_URL, '--table', table];

async function enqueue(root, table, extra) {
  const out = await cli(['migrate', root, ...db(table), '--no-backup', '--enqueue', '--json', ...extra], { ENCRYPTION_MASTER_KEY: corpus.master_key });
  const enqueued = out.lines.find((l) => 'enqueued' in l)?.enqueued;
  if (out.code !== 0 || enqueued === undefined || enqueued.failedValidation > 0) throw new Error(`migrate --enqueue exited with ${out.code}: ${out.stderr.slice(-2000)}`);
  return enqueued;
}

/** Connections to this database other than ours, by kind, sampled until stopped; keeps the peak. */
function sampleConnections() {
  const peak = { queue: 0, other: 0, total: 0 };
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const { rows } = await client.query(
        `SELECT count(*) FILTER (WHERE application_name LIKE 'pgvector-migrate worker%')::int AS queue, count(*)::int AS total
           FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
        [database],
      );
      const { queue, total } = rows[0];
      if (total > peak.total) Object.assign(peak, { queue, other: total - queue, total });
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return async () => {
    stop = true;
    await done;
    return peak;
  };
}

/** `workers` worker processes draining the queue; wall seconds from their start to the last exit, the jobs' events, the connection peak. */
async function drain(workers, extra) {
  const stopSampling = sampleConnections();
  const started = performance.now();
  const runs = await Promise.all(Array.from({ length: workers }, () => cli(['worker', '--database-url', DATABASE_URL, '--drain', '--json', ...extra], { ENCRYPTION_MASTER_KEY: corpus.master_key })));
  const wallS = (performance.now() - started) / 1000;
  const connections = await stopSampling();
  for (const r of runs) if (r.code !== 0) throw new Error(`worker exited with ${r.code}: ${r.stderr.slice(-2000)}`);
  const events = runs.flatMap((r) => r.lines);
  const failed = events.filter((e) => e.type === 'job-failed');
  if (failed.length > 0) throw new Error(`jobs failed: ${JSON.stringify(failed.slice(0, 3))}`);
  const doneOf = (queue) => events.filter((e) => e.type === 'job-done' && e.queue === queue);
  return { wallS, connections, stores: doneOf('pgvector-migrate.store'), finish: doneOf('pgvector-migrate.migrate-finish'), perWorker: runs.map((r) => r.lines.filter((e) => e.type === 'job-done').length) };
}

async function rowCount(table) {
  return (await client.query(`SELECT count(*)::int AS n FROM "${table}"`)).rows[0].n;
}

try {
  if (CLI !== path.join(REPO, 'dist', 'cli', 'bin.js')) info(`# CLI: ${CLI}`);
  info(`# workers: ${int(DOCS)} docs in ${corpus.stores.length} stores (re-embedded, batch ${BATCH}), ${ROUNDS} round(s); per-job overhead on ${TINY} stores of 1 doc (keep); database ${database}; load ${loadavg()}`);

  // (a) and (b): the same plan, enqueued afresh into a table of its own for each variant and round.
  const best = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, 0]));
  const peaks = {};
  let indexMs = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, { workers, threads }] of Object.entries(VARIANTS)) {
      const table = `bench_workers_${workers}x${threads}_${r}_${process.pid}`;
      await drop(table);
      const enqueued = await enqueue(corpus.root, table, ['--model', model, '--batch-size', String(BATCH)]);
      const d = await drain(workers, ['--threads', String(threads)]);
      const rows = await rowCount(table);
      await drop(table);
      if (rows !== DOCS) throw new Error(`${name}: ${rows} rows in the table, the corpus has ${DOCS}`);
      const rate = DOCS / d.wallS;
      best[name] = Math.max(best[name], rate);
      peaks[name] = d.connections;
      indexMs = indexMs.concat(d.finish.map((e) => e.ms));
      const storeS = d.stores.reduce((s, e) => s + e.ms, 0) / 1000;
      info(
        `#   round ${r + 1} ${name}: ${enqueued.enqueued} store jobs, ${int(rows)} rows in ${fmt(d.wallS, 1)} s, ${fmt(rate)} docs/s; ` +
          `jobs per worker ${d.perWorker.join('/')}, store jobs ${fmt(storeS, 1)} s in all, finish job (HNSW + ANALYZE) ${fmt((d.finish[0]?.ms ?? 0) / 1000, 1)} s; ` +
          `peak connections ${d.connections.total} (queue ${d.connections.queue}, sink ${d.connections.other}) (load ${loadavg()})`,
      );
    }
  }

  // (c) 1-document stores, keep mode: the work per store is tiny, so what is left is the queue's and the ledger's.
  const tinyPlain = `bench_workers_tiny_plain_${process.pid}`;
  const tinyQueued = `bench_workers_tiny_queued_${process.pid}`;
  await drop(tinyPlain);
  await drop(tinyQueued);
  const plain = await cli(['migrate', tiny.root, ...db(tinyPlain), '--no-backup', '--embeddings', 'keep', '--json'], { ENCRYPTION_MASTER_KEY: tiny.master_key });
  if (plain.code !== 0) throw new Error(`migrate exited with ${plain.code}: ${plain.stderr.slice(-2000)}`);
  await enqueue(tiny.root, tinyQueued, ['--embeddings', 'keep']);
  const queued = await drain(1, []);
  const tinyRows = [await rowCount(tinyPlain), await rowCount(tinyQueued)];
  await drop(tinyPlain);
  await drop(tinyQueued);
  if (tinyRows.some((n) => n !== TINY)) throw new Error(`tiny stores: ${tinyRows.join(' and ')} rows, the corpus has ${TINY}`);
  const overheadMs = ((queued.wallS - plain.wallS) * 1000) / TINY;
  const jobMs = queued.stores.map((e) => e.ms).sort((x, y) => x - y);
  info(
    `#   ${TINY} stores of 1 doc (keep): plain migrate ${fmt(plain.wallS, 1)} s, 1 worker --drain ${fmt(queued.wallS, 1)} s; ` +
      `store job median ${fmt(jobMs[Math.floor(jobMs.length / 2)], 0)} ms (handler only), overhead ${fmt(overheadMs, 0)} ms per job (load ${loadavg()})`,
  );

  // The many-machines model's figures: the same corpus in keep mode (no model), as one plain migrate.
  const keepTable = `bench_workers_keep_${process.pid}`;
  await drop(keepTable);
  const reportPath = path.join(workDir, 'keep.json');
  const keep = await cli(['migrate', corpus.root, ...db(keepTable), '--no-backup', '--embeddings', 'keep', '--json', '--report', reportPath], { ENCRYPTION_MASTER_KEY: corpus.master_key });
  await drop(keepTable);
  if (keep.code !== 0) throw new Error(`migrate --embeddings keep exited with ${keep.code}: ${keep.stderr.slice(-2000)}`);
  const run = JSON.parse(readFileSync(reportPath, 'utf8'));
  const copyRate = DOCS / (run.totals.loadMs / 1000);
  info(
    `#   model figures: keep-mode load of the same ${int(DOCS)} docs ${int(copyRate)} rows/s (staging COPY + insert, ${fmt(run.totals.loadMs / 1000, 1)} s), ` +
      `HNSW build ${fmt((run.searchIndex?.ms ?? 0) / 1000, 1)} s at the end (finish jobs above: ${indexMs.map((ms) => fmt(ms / 1000, 1)).join(', ')} s); ` +
      `peak connections per worker ${Object.entries(peaks).map(([k, p]) => `${k.slice(0, 1)} ${fmt(p.total / VARIANTS[k].workers, 1)}`).join(', ')}; server max_connections ${(await client.query('SHOW max_connections')).rows[0].max_connections}`,
  );

  const [a, b] = Object.keys(VARIANTS);
  report(`workers: ${int(DOCS)} docs, 2 workers x 1 thread vs 1 worker x 2 threads (same plan)`, { value: best[b], unit: 'docs/s', baseline: best[a], baselineName: '1 worker x 2 threads', target: 0.9 });
  report(`workers: ${TINY} 1-doc stores (keep), 1 worker --drain vs plain migrate, wall s (overhead ${fmt(overheadMs, 0)} ms/job)`, {
    value: queued.wallS,
    unit: 's',
    baseline: plain.wallS,
    baselineName: 'plain migrate',
    higherIsBetter: false,
  });
} finally {
  await client.end();
  rmSync(workDir, { recursive: true, force: true });
}
