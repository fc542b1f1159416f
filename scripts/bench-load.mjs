#!/usr/bin/env node
// Loading throughput: the same rows (384-dimension vectors, texts of the bench corpus) into
// PostgreSQL (BENCH_DATABASE_URL / TEST_DATABASE_URL) and PGlite, by
//   - the sink (sink.replaceStore, one transaction per store: binary COPY into a staging table,
//     then INSERT ... SELECT), into a table without its HNSW index (built after: see below);
//   - row-by-row INSERT (the original tool's way; one transaction per store);
//   - LangChain's PGVectorStore.addVectors (@langchain/community: multi-row INSERTs of 500 rows,
//     vectors as text) into its own table;
//   - a bare binary COPY of the same rows (our encoder, one COPY per store, no staging, no
//     checks) into a table of the sink's shape (same b-tree indexes, no HNSW): the floor;
//   - the index: loading through a live HNSW index against loading without it then building the
//     index once (Sink.buildSearchIndex, maintenance_work_mem 512MB).
//
//   node scripts/bench-load.mjs [--quick] [--rows N] [--stores S] [--only pg|pglite] [--dist <dir>]
//
// --dist loads through another build's sink (say an older checkout's dist/) for a before/after;
// a build without Sink.schema.buildSearchIndex (before index deferral) only gets its sink measured, on
// --index-rows rows, on both drivers (its ensureSchema creates the HNSW index up front).

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { corpusTexts, DATABASE_URL, ensureCorpus, fmt, info, int, loadavg, option, QUICK, report } from './bench-lib.mjs';

const ROWS = Number(option('--rows', QUICK ? 2000 : 20000));
const STORES = Number(option('--stores', QUICK ? 4 : 10));
const DIMS = 384;
const ONLY = option('--only', 'all');
/** Row-by-row INSERT is slow: measured on a prefix of the rows (a rate is a rate). */
const SLOW_ROWS = Math.min(ROWS, QUICK ? 1000 : 5000);
/** Live index against a build after: both on the same rows (the graph's size changes the cost). */
const INDEX_ROWS = Number(option('--index-rows', Math.min(ROWS, QUICK ? 1000 : 20000)));
const ROUNDS = Number(option('--rounds', QUICK ? 1 : 2));

const DIST = path.resolve(option('--dist', path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist')));
const dist = (module) => import(path.join(DIST, module));
const { openSink } = await dist('sink/index.js');
const { encodeHeader, encodeRows, encodeTrailer } = await dist('sink/copyBinary.js');
const { rowId, sha256Hex } = await dist('transform/rowId.js');
const { pgliteSinkFrom } = await dist('sink/pgliteSink.js');

// ---- the rows ------------------------------------------------------------------------------

const texts = await corpusTexts(ensureCorpus(2000));
const { seededRandom } = await dist('transform/random.js');
const uniform = seededRandom(7);
/** Centred values in [-0.5, 0.5). */
const random = () => uniform() - 0.5;
/** stores[s] = rows of user s, one collection. */
const stores = Array.from({ length: STORES }, (_, s) => {
  const userId = `bench_user${s}`;
  const count = Math.floor(ROWS / STORES) + (s < ROWS % STORES ? 1 : 0);
  return Array.from({ length: count }, (_, i) => {
    const text = texts[(s * 7919 + i) % texts.length];
    const embedding = new Float32Array(DIMS);
    let norm = 0;
    for (let d = 0; d < DIMS; d++) {
      embedding[d] = random();
      norm += embedding[d] * embedding[d];
    }
    for (let d = 0; d < DIMS; d++) embedding[d] /= Math.sqrt(norm);
    const contentSha256 = sha256Hex(text);
    return {
      id: rowId(userId, 'notes', i, contentSha256),
      userId,
      collection: 'notes',
      text,
      embedding,
      metadataJson: JSON.stringify({ id: `doc_${i}`, timestamp: '2025-11-06T09:30:00', source: 'upload' }),
      contentSha256,
      embeddingModel: 'bench-model',
      sourceIndex: i,
      pcaModelId: null,
      embeddingFingerprint: '{"bench":true}',
    };
  });
});
const all = stores.flat();
/** A prefix of the stores holding about `n` rows. */
const prefix = (n) => {
  const out = [];
  let left = n;
  for (const rows of stores) {
    if (left <= 0) break;
    out.push(rows.slice(0, left));
    left -= rows.length;
  }
  return out;
};
const BATCH = 32;
async function* batches(rows) {
  for (let i = 0; i < rows.length; i += BATCH) yield rows.slice(i, i + BATCH);
}
const key = (rows) => ({ userId: rows[0].userId, collection: rows[0].collection });
const seconds = (t0) => (performance.now() - t0) / 1000;
const table = (what) => `bench_load_${what}_${process.pid}`;

info(`# loading: ${int(ROWS)} rows x ${DIMS} dims in ${STORES} stores (slow baselines on ${int(SLOW_ROWS)}); load ${loadavg()}`);

// ---- methods -------------------------------------------------------------------------------

/** The sink: one replaceStore per store. Returns rows/s. */
async function sinkLoad(sink, target, storeRows) {
  const t0 = performance.now();
  let n = 0;
  for (const rows of storeRows) n += (await sink.loads.replaceStore(target, key(rows), batches(rows))).rowsLoaded;
  return n / seconds(t0);
}

/** One INSERT per row, a transaction per store (the original tool's way). */
async function rowByRow(client, name, storeRows) {
  const sql = `INSERT INTO "${name}" (id, user_id, collection_name, text, embedding, metadata, content_sha256, embedding_model, source_index, pca_model_id, embedding_fingerprint)
               VALUES ($1, $2, $3, $4, $5::vector, $6::jsonb, $7, $8, $9, $10, $11)`;
  const t0 = performance.now();
  let n = 0;
  for (const rows of storeRows) {
    await client.query('BEGIN');
    for (const r of rows) {
      await client.query(sql, [r.id, r.userId, r.collection, r.text, `[${Array.from(r.embedding).join(',')}]`, r.metadataJson, r.contentSha256, r.embeddingModel, r.sourceIndex, r.pcaModelId, r.embeddingFingerprint]);
      n++;
    }
    await client.query('COMMIT');
  }
  return n / seconds(t0);
}

/** A bare binary COPY per store into `name` (pg): our encoder, no staging, no checks. */
async function bareCopyPg(client, name, storeRows) {
  const sql = `COPY "${name}" (id, user_id, collection_name, text, embedding, metadata, content_sha256, embedding_model, source_index, pca_model_id, embedding_fingerprint) FROM STDIN WITH (FORMAT binary)`;
  const t0 = performance.now();
  let n = 0;
  for (const rows of storeRows) {
    const stream = client.query(copyFrom(sql));
    await pipeline(async function* () {
      yield encodeHeader();
      for await (const batch of batches(rows)) yield encodeRows(batch, { vectorType: 'vector' });
      yield encodeTrailer();
    }, stream);
    n += Number(stream.rowCount);
  }
  return n / seconds(t0);
}

/** The same on PGlite: one COPY per batch from /dev/blob (the driver's way), a transaction per store. */
async function bareCopyPglite(db, name, storeRows) {
  const sql = `COPY "${name}" (id, user_id, collection_name, text, embedding, metadata, content_sha256, embedding_model, source_index, pca_model_id, embedding_fingerprint) FROM '/dev/blob' WITH (FORMAT binary)`;
  const t0 = performance.now();
  let n = 0;
  for (const rows of storeRows) {
    await db.transaction(async (tx) => {
      for await (const batch of batches(rows)) {
        const payload = Buffer.concat([encodeHeader(), encodeRows(batch, { vectorType: 'vector' }), encodeTrailer()]);
        const r = await tx.query(sql, [], { blob: new Blob([payload]) });
        n += r.affectedRows ?? 0;
      }
    });
  }
  return n / seconds(t0);
}

/** LangChain's PGVectorStore.addVectors into its own table; vectors handed over as number[][]. */
async function langchain(name, storeRows) {
  const { PGVectorStore } = await import('@langchain/community/vectorstores/pgvector');
  const { FakeEmbeddings } = await import('@langchain/core/utils/testing');
  const store = await PGVectorStore.initialize(new FakeEmbeddings(), { postgresConnectionOptions: { connectionString: DATABASE_URL }, tableName: name, dimensions: DIMS });
  const inputs = storeRows.map((rows) => ({
    vectors: rows.map((r) => Array.from(r.embedding)),
    documents: rows.map((r) => ({ pageContent: r.text, metadata: JSON.parse(r.metadataJson) })),
    ids: rows.map((r) => r.id),
  }));
  const t0 = performance.now();
  let n = 0;
  for (const input of inputs) {
    await store.addVectors(input.vectors, input.documents, { ids: input.ids });
    n += input.vectors.length;
  }
  const rate = n / seconds(t0);
  await store.end();
  return rate;
}

// ---- pg ------------------------------------------------------------------------------------

const figures = {};

async function benchPg() {
  const sink = await openSink({ databaseUrl: DATABASE_URL, pgliteDir: '/nonexistent' });
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  const made = new Set();
  const fresh = async (what, deferred = true) => {
    const name = table(what);
    made.add(name);
    await client.query(`DROP TABLE IF EXISTS "${name}", "${name}_previous"`);
    await sink.schema.ensureSchema({ table: name, dimensions: DIMS }, { deferSearchIndex: deferred });
    return { table: name, dimensions: DIMS };
  };
  const slow = prefix(SLOW_ROWS);
  const lcName = table('langchain');
  made.add(lcName);
  const methods = {
    pgOurs: async () => sinkLoad(sink, await fresh('ours'), stores),
    pgBare: async () => bareCopyPg(client, (await fresh('bare')).table, stores),
    pgRowByRow: async () => rowByRow(client, (await fresh('rowbyrow')).table, slow),
    pgLangchain: async () => {
      await client.query(`DROP TABLE IF EXISTS "${lcName}"`);
      return langchain(lcName, stores);
    },
  };
  const names = Object.keys(methods);
  try {
    // Interleaved rounds, the order rotating, best round kept: the machine may be shared.
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(k + r) % names.length];
        const rate = await methods[name]();
        figures[name] = Math.max(figures[name] ?? 0, rate);
        info(`#   round ${r + 1} ${name.padEnd(12)} ${int(rate).padStart(7)} rows/s (load ${loadavg()})`);
      }
    }
    const ours = await fresh('ours');
    await sinkLoad(sink, ours, stores);
    let t0 = performance.now();
    await sink.schema.buildSearchIndex(ours);
    const plainS = seconds(t0);
    await client.query(`DROP INDEX "${ours.table}_embedding_hnsw_idx"`);
    t0 = performance.now();
    await sink.schema.buildSearchIndex(ours, { concurrently: true });
    info(`#   pg index build after ${int(ROWS)} rows: ${fmt(plainS, 2)} s, ${fmt(seconds(t0), 2)} s CONCURRENTLY (maintenance_work_mem 512MB)`);

    // Index: the same rows through a live index, against load + one build (plain: a new table).
    const indexed = prefix(INDEX_ROWS);
    const live = await fresh('live', false);
    figures.pgLive = await sinkLoad(sink, live, indexed);
    info(`#   pg sink through a live HNSW  ${int(figures.pgLive)} rows/s on ${int(INDEX_ROWS)} rows (load ${loadavg()})`);
    const later = await fresh('later');
    const t1 = performance.now();
    for (const rows of indexed) await sink.loads.replaceStore(later, key(rows), batches(rows));
    const loadS = seconds(t1);
    const t2 = performance.now();
    await sink.schema.buildSearchIndex(later);
    const buildS = seconds(t2);
    figures.pgLater = INDEX_ROWS / (loadS + buildS);
    info(`#   pg load then build           ${int(figures.pgLater)} rows/s on ${int(INDEX_ROWS)} rows (load ${fmt(loadS, 2)} s + build ${fmt(buildS, 2)} s)`);
    // The server's default maintenance_work_mem (64MB here) and a starved one, for the record.
    for (const memory of ['64MB', '1MB']) {
      await client.query(`DROP INDEX "${later.table}_embedding_hnsw_idx"`);
      const t3 = performance.now();
      await sink.schema.buildSearchIndex(later, { maintenanceWorkMem: memory });
      info(`#   pg build on ${int(INDEX_ROWS)} rows with maintenance_work_mem ${memory}: ${fmt(seconds(t3), 2)} s (512MB: ${fmt(buildS, 2)} s)`);
    }
  } finally {
    for (const name of made) await client.query(`DROP TABLE IF EXISTS "${name}", "${name}_previous"`);
    await client.end();
    await sink.close();
  }
  report('loading (pg): sink vs row-by-row INSERT', { value: figures.pgOurs, unit: 'rows/s', baseline: figures.pgRowByRow, baselineName: 'row-by-row', target: 10 });
  report('loading (pg): sink vs LangChain PGVectorStore.addVectors', { value: figures.pgOurs, unit: 'rows/s', baseline: figures.pgLangchain, baselineName: 'LangChain', target: 4 });
  report('loading (pg): sink vs bare binary COPY', { value: figures.pgOurs, unit: 'rows/s', baseline: figures.pgBare, baselineName: 'bare COPY', target: 0.75 });
  report('loading (pg): load + index build after vs live HNSW index', { value: figures.pgLater, unit: 'rows/s', baseline: figures.pgLive, baselineName: 'live index', target: 5 });
}

// ---- PGlite --------------------------------------------------------------------------------

async function benchPglite() {
  const { PGlite } = await import('@electric-sql/pglite');
  const { vector } = await import('@electric-sql/pglite-pgvector');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pgvm-bench-'));
  const db = new PGlite(path.join(dir, 'db'), { extensions: { vector } });
  await db.waitReady;
  const sink = pgliteSinkFrom(db, { location: dir });
  try {
    const fresh = async (what, deferred = true) => {
      const target = { table: table(what), dimensions: DIMS };
      await sink.schema.ensureSchema(target, { deferSearchIndex: deferred });
      return target;
    };
    const ours = await fresh('ours');
    figures.pgliteOurs = await sinkLoad(sink, ours, stores);
    info(`#   PGlite sink (no HNSW yet)    ${int(figures.pgliteOurs)} rows/s (load ${loadavg()})`);
    const t0 = performance.now();
    await sink.schema.buildSearchIndex(ours);
    info(`#   PGlite index build after ${int(ROWS)} rows: ${fmt(seconds(t0), 2)} s`);
    const bare = await fresh('bare');
    figures.pgliteBare = await bareCopyPglite(db, bare.table, stores);
    info(`#   PGlite bare binary COPY      ${int(figures.pgliteBare)} rows/s`);
    const slow = prefix(Math.min(SLOW_ROWS, 2000));
    const slowRows = slow.reduce((n, r) => n + r.length, 0);
    const live = await fresh('live', false);
    figures.pgliteLive = await sinkLoad(sink, live, slow);
    const later = await fresh('later');
    const t1 = performance.now();
    for (const rows of slow) await sink.loads.replaceStore(later, key(rows), batches(rows));
    await sink.schema.buildSearchIndex(later);
    figures.pgliteLater = slowRows / seconds(t1);
    info(`#   PGlite live index ${int(figures.pgliteLive)} rows/s, load then build ${int(figures.pgliteLater)} rows/s on ${int(slowRows)} rows`);
  } finally {
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
  report('loading (PGlite): sink vs bare binary COPY on PGlite', { value: figures.pgliteOurs, unit: 'rows/s', baseline: figures.pgliteBare, baselineName: 'bare COPY' });
  report('loading (PGlite): load + index build after vs live HNSW index', { value: figures.pgliteLater, unit: 'rows/s', baseline: figures.pgliteLive, baselineName: 'live index' });
  if (figures.pgOurs !== undefined) {
    report('loading: PGlite vs real server, same rows (within 4x)', { value: figures.pgliteOurs, unit: 'rows/s', baseline: figures.pgOurs, baselineName: 'pg', target: 0.25 });
  }
}

/** A build from before index deferral: its sink, through the live index its ensureSchema made. */
async function benchOldSink() {
  const { PGlite } = await import('@electric-sql/pglite');
  const { vector } = await import('@electric-sql/pglite-pgvector');
  const rows = prefix(INDEX_ROWS);
  const n = rows.reduce((s, r) => s + r.length, 0);
  const pgSink = await openSink({ databaseUrl: DATABASE_URL, pgliteDir: '/nonexistent' });
  const name = table('old');
  try {
    await pgSink.schema.ensureSchema({ table: name, dimensions: DIMS });
    info(`#   ${DIST}: pg sink (live HNSW index)      ${int(await sinkLoad(pgSink, { table: name, dimensions: DIMS }, rows))} rows/s on ${int(n)} rows (load ${loadavg()})`);
  } finally {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS "${name}", "${name}_previous"`);
    await client.end();
    await pgSink.close();
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pgvm-bench-'));
  const db = new PGlite(path.join(dir, 'db'), { extensions: { vector } });
  const sink = pgliteSinkFrom(db, { location: dir });
  try {
    const few = prefix(Math.min(INDEX_ROWS, 2000));
    await sink.schema.ensureSchema({ table: name, dimensions: DIMS });
    info(`#   ${DIST}: PGlite sink (live HNSW index)  ${int(await sinkLoad(sink, { table: name, dimensions: DIMS }, few))} rows/s on ${int(few.reduce((s, r) => s + r.length, 0))} rows`);
  } finally {
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const probe = await openSink({ databaseUrl: DATABASE_URL, pgliteDir: '/nonexistent' });
const before = typeof probe.buildSearchIndex !== 'function';
await probe.close();
if (before) await benchOldSink();
else {
  if (ONLY === 'all' || ONLY === 'pg') await benchPg();
  if (ONLY === 'all' || ONLY === 'pglite') await benchPglite();
}
