/**
 * Per-user top-k at scale (issue 12): 20 users x 1000 rows of random unit vectors, written by
 * Python's pickle, migrated by the CLI (keep mode, --owner-in-metadata), which builds the HNSW
 * index and ANALYZEs the table. The planner then scans the index and filters by user_id after it,
 * so a plain client with default settings gets fewer than 10 rows; `query`, a plain client after
 * `setup-search` (database or --role default) and LangChain.js's PGVectorStore get 10.
 * On PostgreSQL in a database of its own (setup-search changes database defaults), and on PGlite.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGVectorStore } from '@langchain/community/vectorstores/pgvector';
import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQueryConfig } from '../src/config.js';
import { runQuery } from '../src/run/query.js';
import { hasIterativeScan } from '../src/sink/searchSettings.js';
import { REPO, runCli, TEST_DATABASE_URL } from './helpers/cli.js';
import { vectorFor } from './helpers/db.js';

const USERS = 20;
const ROWS = 1000;
const DIMS = 32;
const K = 10;
const TABLE = 'search_docs';
const CONFLICT_USER = 'user07';
const userIds = Array.from({ length: USERS }, (_, u) => `user${String(u).padStart(2, '0')}`);

/** One deterministic unit query vector per user. */
function queryVector(u: number): number[] {
  const v = Array.from(vectorFor(7919 * (u + 1), DIMS));
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}
const toSql = (v: number[]) => `[${v.join(',')}]`;

type Query = <R>(sql: string, params?: unknown[]) => Promise<R[]>;

/** What any SQL client sends (../shared/CLIENTS.md): top-k of one user by cosine. */
const PLAIN_TOP_K = `SELECT id::text AS id FROM ${TABLE} WHERE user_id = $2 ORDER BY embedding <=> $1::vector LIMIT $3`;

async function plainTopK(query: Query, user: string, v: number[]): Promise<string[]> {
  return (await query<{ id: string }>(PLAIN_TOP_K, [toSql(v), user, K])).map((r) => r.id);
}

/** The true top-k: the same statement with index scans off, so the table is scanned exactly. */
async function exactTopK(query: Query, user: string, v: number[]): Promise<string[]> {
  await query('BEGIN');
  try {
    await query('SET LOCAL enable_indexscan = off');
    return await plainTopK(query, user, v);
  } finally {
    await query('COMMIT');
  }
}

function recall(got: string[], exact: string[]): number {
  const truth = new Set(exact);
  return got.filter((id) => truth.has(id)).length / exact.length;
}

interface Figures {
  meanRows: number;
  meanRecall: number;
}

/** Per-user top-10 of every user through `topK`, against the exact answer. */
async function measure(topK: (user: string, v: number[]) => Promise<string[]>, exact: (user: string, v: number[]) => Promise<string[]>, users = USERS): Promise<Figures> {
  let rows = 0;
  let hits = 0;
  for (const [u, user] of userIds.slice(0, users).entries()) {
    const got = await topK(user, queryVector(u));
    const truth = await exact(user, queryVector(u));
    expect(truth).toHaveLength(K);
    rows += got.length;
    hits += recall(got, truth) * K;
  }
  return { meanRows: rows / users, meanRecall: hits / (users * K) };
}

async function withClient<T>(url: string, fn: (query: Query) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(async <R,>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as R[]);
  } finally {
    await client.end();
  }
}

/** An embeddings object for PGVectorStore: the test passes vectors, never texts. */
const noEmbeddings: EmbeddingsInterface = {
  embedQuery: () => Promise.reject(new Error('the test searches by vector')),
  embedDocuments: () => Promise.reject(new Error('the test searches by vector')),
};

async function langchainTopK(url: string, user: string, v: number[]): Promise<{ ids: string[]; owners: unknown[] }> {
  const store = await PGVectorStore.initialize(noEmbeddings, {
    postgresConnectionOptions: { connectionString: url },
    tableName: TABLE,
    columns: { idColumnName: 'id', vectorColumnName: 'embedding', contentColumnName: 'text', metadataColumnName: 'metadata' },
  });
  try {
    const results = await store.similaritySearchVectorWithScore(v, K, { user_id: user });
    return { ids: results.map(([d]) => String(d.id)), owners: results.map(([d]) => (d.metadata as Record<string, unknown>).user_id) };
  } finally {
    await store.end();
  }
}

const log = (label: string, f: Figures) => console.log(`[recall] ${label}: ${f.meanRows.toFixed(2)} rows of ${K}, recall@${K} ${f.meanRecall.toFixed(3)}`);

async function generate(dir: string, users = USERS, rows = ROWS): Promise<string> {
  execFileSync('python3', [path.join(REPO, 'scripts/make_search_stores.py'), '--out', dir, '--users', String(users), '--rows', String(rows), '--dims', String(DIMS), '--conflict-user', CONFLICT_USER]);
  return path.join(dir, 'user_data');
}

function libraryQuery(databaseFlags: { databaseUrl?: string; pgliteDir?: string }, dir: string) {
  return async (user: string, v: number[]): Promise<string[]> => {
    const file = path.join(dir, `q-${user}.json`);
    await writeFile(file, JSON.stringify(v));
    const config = buildQueryConfig(undefined, { ...databaseFlags, table: TABLE, user, k: String(K), embeddingFile: file }, {}, dir);
    return (await runQuery(config)).hits.map((h) => h.id);
  };
}

describe('pgvector versions: which have hnsw.iterative_scan', () => {
  it('0.8.0 and later do, older ones do not', () => {
    for (const v of ['0.8.0', '0.8.7', '0.10.1', '1.0.0']) expect(hasIterativeScan(v), v).toBe(true);
    for (const v of ['0.7.4', '0.5.1', '0.1.0', null, 'dev']) expect(hasIterativeScan(v), String(v)).toBe(false);
  });
});

describe('per-user top-10 on an ANALYZEd 20-user table (pg)', () => {
  const database = `pgvm_e_search_${process.pid}`;
  const role = `pgvm_e_reader_${process.pid}`;
  const admin = new URL(TEST_DATABASE_URL);
  const url = Object.assign(new URL(TEST_DATABASE_URL), { pathname: `/${database}` }).toString();
  const roleUrl = Object.assign(new URL(url), { username: role, password: 'reader' }).toString();
  let dir = '';
  let migrateCode: number | null = null;
  let migrateErr = '';

  beforeAll(async () => {
    await withClient(admin.toString(), async (q) => {
      await q(`CREATE DATABASE ${database}`);
      await q(`CREATE ROLE ${role} LOGIN PASSWORD 'reader'`);
    });
    await withClient(url, async (q) => {
      await q('CREATE EXTENSION vector');
    });
    dir = await mkdtemp(path.join(tmpdir(), 'pgvm-search-'));
    const root = await generate(dir);
    const r = await runCli(['migrate', root, '--database-url', url, '--table', TABLE, '--embeddings', 'keep', '--owner-in-metadata', '--no-backup', '--report', path.join(dir, 'report.json')]);
    migrateCode = r.code;
    migrateErr = r.stderr;
    await withClient(url, (q) => q(`GRANT SELECT ON ${TABLE} TO ${role}`));
  }, 400_000);

  afterAll(async () => {
    await withClient(admin.toString(), async (q) => {
      await q(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await q(`DROP ROLE IF EXISTS ${role}`);
    });
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('migrate loads every row with its owner in metadata (a conflicting source user_id kept aside), then ANALYZEs the table', async () => {
    expect(migrateCode, migrateErr).toBe(0);
    const report = JSON.parse(await readFile(path.join(dir, 'report.json'), 'utf8')) as { stores: { userId: string; warnings: string[] }[] };
    await withClient(url, async (q) => {
      const [counts] = await q<{ n: number; owned: number }>(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE metadata->>'user_id' = user_id AND metadata->>'collection_name' = collection_name)::int AS owned FROM ${TABLE}`,
      );
      expect(counts).toEqual({ n: USERS * ROWS, owned: USERS * ROWS });
      const [conflict] = await q<{ metadata: Record<string, unknown>; content_sha256: string; sha: string }>(
        `SELECT metadata, content_sha256, encode(sha256(convert_to(text, 'UTF8')), 'hex') AS sha FROM ${TABLE} WHERE user_id = $1 AND source_index = 3`,
        [CONFLICT_USER],
      );
      expect(conflict?.metadata).toMatchObject({ user_id: CONFLICT_USER, source_user_id: 'mallory', collection_name: 'personal_assistant', source: 'upload' });
      // The content hash is still the text's alone.
      expect(conflict?.content_sha256).toBe(conflict?.sha);
      const [other] = await q<{ metadata: Record<string, unknown> }>(`SELECT metadata FROM ${TABLE} WHERE user_id = 'user00' AND source_index = 0`);
      expect(other?.metadata).not.toHaveProperty('source_user_id');
      const [stats] = await q<{ last_analyze: Date | null; reltuples: number }>(
        `SELECT s.last_analyze, c.reltuples::float8 AS reltuples FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE s.relname = $1`,
        [TABLE],
      );
      expect(stats?.last_analyze).not.toBeNull();
      expect(await q(`SELECT options->'ownerInMetadata' AS owner FROM migration_runs`)).toEqual([{ owner: true }]);
      expect(stats?.reltuples).toBe(USERS * ROWS);
    });
    const warned = report.stores.find((s) => s.userId === CONFLICT_USER)?.warnings ?? [];
    expect(warned.join('\n')).toContain(`${ROWS} entries had a metadata user_id other than the store's`);
  });

  it('a plain client with default settings gets fewer than 10 rows (the index scan is filtered by user afterwards); query gets 10', async () => {
    const baseline = await withClient(url, (q) => measure((u, v) => plainTopK(q, u, v), (u, v) => exactTopK(q, u, v)));
    log('pg, plain client, default settings', baseline);
    expect(baseline.meanRows).toBeLessThan(K * 0.9);

    const viaQuery = await withClient(url, (q) => measure(libraryQuery({ databaseUrl: url }, dir), (u, v) => exactTopK(q, u, v)));
    log('pg, query (library)', viaQuery);
    expect(viaQuery.meanRows).toBe(K);
    expect(viaQuery.meanRecall).toBeGreaterThanOrEqual(0.95);

    // The CLI, as a user runs it, for one user.
    await writeFile(path.join(dir, 'q0.json'), JSON.stringify(queryVector(0)));
    const r = await runCli(['query', '--database-url', url, '--table', TABLE, '--user', 'user00', '--embedding-file', path.join(dir, 'q0.json'), '-k', String(K)]);
    expect(r.code, r.stderr).toBe(0);
    const hits = (r.lines[0] as { hits: { userId: string; distance: number }[] }).hits;
    expect(hits).toHaveLength(K);
    expect(hits.every((h) => h.userId === 'user00')).toBe(true);
    expect(hits.map((h) => h.distance)).toEqual([...hits.map((h) => h.distance)].sort((a, b) => a - b));
  });

  it('LangChain.js PGVectorStore with a { user_id } filter gets fewer than 10 rows before setup-search', async () => {
    let rows = 0;
    for (const [u, user] of userIds.entries()) rows += (await langchainTopK(url, user, queryVector(u))).ids.length;
    console.log(`[recall] pg, LangChain.js, default settings: ${(rows / USERS).toFixed(2)} rows of ${K}`);
    expect(rows / USERS).toBeLessThan(K * 0.9);
  });

  it('after setup-search (idempotent) a plain client and LangChain.js get 10 rows of that user only', async () => {
    const first = await runCli(['setup-search', '--database-url', url, '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.lines[0]).toMatchObject({ database, role: null, setting: 'hnsw.iterative_scan=relaxed_order', changed: true });
    const again = await runCli(['setup-search', '--database-url', url, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.lines[0]).toMatchObject({ changed: false });

    const after = await withClient(url, async (q) => {
      expect((await q<Record<string, string>>('SHOW hnsw.iterative_scan'))[0]).toEqual({ 'hnsw.iterative_scan': 'relaxed_order' });
      return measure((u, v) => plainTopK(q, u, v), (u, v) => exactTopK(q, u, v));
    });
    log('pg, plain client after setup-search', after);
    expect(after.meanRows).toBe(K);
    expect(after.meanRecall).toBeGreaterThanOrEqual(0.95);

    let hits = 0;
    for (const [u, user] of userIds.entries()) {
      const got = await langchainTopK(url, user, queryVector(u));
      expect(got.ids, user).toHaveLength(K);
      expect(new Set(got.owners)).toEqual(new Set([user]));
      hits += recall(got.ids, await withClient(url, (q) => exactTopK(q, user, queryVector(u)))) * K;
    }
    console.log(`[recall] pg, LangChain.js after setup-search: ${K}.00 rows of ${K}, recall@${K} ${(hits / (USERS * K)).toFixed(3)}`);
    expect(hits / (USERS * K)).toBeGreaterThanOrEqual(0.95);
  });

  it('setup-search --role sets the default of that role only; an unknown role is refused', async () => {
    // Back to no database default, so that only the role's can make the difference.
    await withClient(url, (q) => q(`ALTER DATABASE ${database} RESET hnsw.iterative_scan`));
    const before = await withClient(roleUrl, (q) => measure((u, v) => plainTopK(q, u, v), (u, v) => exactTopK(q, u, v)));
    expect(before.meanRows).toBeLessThan(K * 0.9);

    const r = await runCli(['setup-search', '--database-url', url, '--role', role, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines[0]).toMatchObject({ database, role, changed: true });
    const again = await runCli(['setup-search', '--database-url', url, '--role', role, '--json']);
    expect(again.lines[0]).toMatchObject({ changed: false });

    const asRole = await withClient(roleUrl, (q) => measure((u, v) => plainTopK(q, u, v), (u, v) => exactTopK(q, u, v)));
    log(`pg, plain client as role ${role} after setup-search --role`, asRole);
    expect(asRole.meanRows).toBe(K);
    // Other roles keep the default.
    const others = await withClient(url, async (q) => {
      await q(`SELECT '[1]'::vector`);
      return q<Record<string, string>>('SHOW hnsw.iterative_scan');
    });
    expect(others[0]).toEqual({ 'hnsw.iterative_scan': 'off' });

    const unknown = await runCli(['setup-search', '--database-url', url, '--role', 'no_such_role_e']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('E_USAGE');
    expect(unknown.stderr).toContain('role "no_such_role_e" does not exist');
  });
});

// PGlite builds the HNSW graph in WebAssembly, minutes for 20,000 rows on a loaded 2-core machine:
// 10 users x 500 rows, where each user's share (10%) still leaves a filtered scan short of 10 rows.
const LITE_USERS = 10;
const LITE_ROWS = 500;

describe('per-user top-10 on an ANALYZEd 10-user table (PGlite)', () => {
  let dir = '';
  let pgliteDir = '';

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pgvm-search-lite-'));
    pgliteDir = path.join(dir, 'db');
    const root = await generate(dir, LITE_USERS, LITE_ROWS);
    const r = await runCli(['migrate', root, '--pglite-dir', pgliteDir, '--table', TABLE, '--embeddings', 'keep', '--owner-in-metadata', '--no-backup']);
    expect(r.code, r.stderr).toBe(0);
  }, 600_000);

  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  async function withPglite<T>(fn: (query: Query) => Promise<T>): Promise<T> {
    const db = new PGlite(pgliteDir, { extensions: { vector } });
    await db.waitReady;
    try {
      return await fn(async <R,>(sql: string, params?: unknown[]) => (await db.query(sql, params)).rows as R[]);
    } finally {
      await db.close();
    }
  }

  it('a session with default settings gets fewer than 10 rows; query gets 10', async () => {
    const baseline = await withPglite(async (q) => {
      const [analyzed] = await q<{ reltuples: number }>(`SELECT reltuples::float8 AS reltuples FROM pg_class WHERE relname = $1`, [TABLE]);
      expect(analyzed?.reltuples).toBe(LITE_USERS * LITE_ROWS);
      return measure((u, v) => plainTopK(q, u, v), (u, v) => exactTopK(q, u, v), LITE_USERS);
    });
    log('PGlite, default settings', baseline);
    expect(baseline.meanRows).toBeLessThan(K * 0.9);

    const exact = new Map<string, string[]>();
    await withPglite(async (q) => {
      for (const [u, user] of userIds.slice(0, LITE_USERS).entries()) exact.set(user, await exactTopK(q, user, queryVector(u)));
    });
    // Each query opens the directory (seconds in PGlite): a sample of the users.
    const viaQuery = await measure(libraryQuery({ pgliteDir }, dir), (user) => Promise.resolve(exact.get(user) ?? []), 5);
    log('PGlite, query (library)', viaQuery);
    expect(viaQuery.meanRows).toBe(K);
    expect(viaQuery.meanRecall).toBeGreaterThanOrEqual(0.95);
  }, 300_000);

  it('setup-search refuses with E_UNSUPPORTED: PGlite stores a database default but never applies it', async () => {
    const r = await runCli(['setup-search', '--pglite-dir', pgliteDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_UNSUPPORTED');
    expect(r.stderr).toContain('SET hnsw.iterative_scan = relaxed_order');
    // Why: the default is stored, yet a new open of the directory does not apply it.
    await withPglite((q) => q(`ALTER DATABASE postgres SET hnsw.iterative_scan = relaxed_order`));
    await withPglite(async (q) => {
      await q(`SELECT '[1]'::vector`);
      expect(await q('SHOW hnsw.iterative_scan')).toEqual([{ 'hnsw.iterative_scan': 'off' }]);
      expect((await q<{ setconfig: string[] }>('SELECT setconfig FROM pg_db_role_setting')).flatMap((r) => r.setconfig)).toContain('hnsw.iterative_scan=relaxed_order');
    });
  }, 300_000);
});
