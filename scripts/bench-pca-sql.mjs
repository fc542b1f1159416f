#!/usr/bin/env node
// Times pgvm_project (sql/schema/013_pca_projection.sql), the query projection SQL clients use on
// PCA tables, against projectForSearch in JavaScript (what `query` does) in the same run.
//
//   npm run build && node scripts/bench-pca-sql.mjs          3072 -> 2000 on PostgreSQL
//   node scripts/bench-pca-sql.mjs --quick                   1024 -> 500
//   --rounds N                                               calls timed per side (default 30)
//
// The database: BENCH_DATABASE_URL / TEST_DATABASE_URL (scripts/bench-lib.mjs). Works in a schema
// of its own, dropped at the end. Each SQL call is one round trip (`SELECT pgvm_project(…)`), as a
// client would make it; the median is reported.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openSink } from '../dist/sink/index.js';
import { fromPcaModelRecord } from '../dist/run/pcaModelRecord.js';
import { projectForSearch } from '../dist/transform/pcaFit.js';
import { DATABASE_URL, QUICK, fmt, info, loadavg, median, option, report } from './bench-lib.mjs';

const SOURCE = QUICK ? 1024 : 3072;
const TARGET = QUICK ? 500 : 2000;
const ROUNDS = Number(option('--rounds', '30'));

/** xorshift32 in [-0.5, 0.5): the same model on every run. */
function values(seed, n, scale) {
  const out = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x / 0xffffffff - 0.5) * scale;
  }
  return out;
}

const schema = `bench_pca_sql_${randomBytes(4).toString('hex')}`;
const table = `${schema}.docs`;
const client = new pg.Client({ connectionString: DATABASE_URL });
await client.connect();
const sink = await openSink({ databaseUrl: DATABASE_URL, pgliteDir: '/nonexistent' });
try {
  await client.query(`CREATE SCHEMA "${schema}"`);
  const target = { table, dimensions: TARGET, distance: 'l2' };
  await sink.schema.ensureSchema(target);
  const t0 = performance.now();
  const saved = await sink.pcaModels.save({
    table,
    sourceDimensions: SOURCE,
    targetDimensions: TARGET,
    mean: values(1, SOURCE, 0.02),
    components: values(2, TARGET * SOURCE, 2 / Math.sqrt(SOURCE)),
    explainedVariance: new Float64Array(TARGET).fill(1),
    totalVariance: TARGET * 2,
    sampleSize: 0,
    method: 'bench',
    fit: {},
    evaluation: new Float32Array(0),
    evaluationRows: 0,
  });
  info(`# pgvm_project ${SOURCE} -> ${TARGET}: model saved (with its pgvector copy) in ${fmt((performance.now() - t0) / 1000, 2)} s; load ${loadavg()}`);
  const model = fromPcaModelRecord(saved);
  const queries = Array.from({ length: ROUNDS }, (_, i) => values(100 + i, SOURCE, 1));

  const jsMs = [];
  let expected = [];
  for (const q of queries) {
    const s = performance.now();
    expected.push(projectForSearch(model, q));
    jsMs.push(performance.now() - s);
  }
  const sqlMs = [];
  let worst = 0;
  const sql = `SELECT "${schema}".pgvm_project($1::regclass, $2::vector)::text AS y`;
  await client.query(sql, [`"${schema}"."docs"`, JSON.stringify(Array.from(queries[0]))]); // warm the caches
  for (const [i, q] of queries.entries()) {
    const s = performance.now();
    const { rows } = await client.query(sql, [`"${schema}"."docs"`, JSON.stringify(Array.from(q))]);
    sqlMs.push(performance.now() - s);
    const y = JSON.parse(rows[0].y);
    for (let j = 0; j < TARGET; j++) worst = Math.max(worst, Math.abs(y[j] - expected[i][j]));
  }
  expected = [];
  info(`# largest difference from projectForSearch over ${ROUNDS} queries: ${worst.toExponential(2)}; load ${loadavg()}`);
  report(`pgvm_project ${SOURCE} -> ${TARGET} on PostgreSQL, one call (median of ${ROUNDS})`, {
    value: median(sqlMs),
    unit: 'ms',
    baseline: median(jsMs),
    baselineName: 'projectForSearch in JS',
    higherIsBetter: false,
  });
} finally {
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
  await sink.close();
}
