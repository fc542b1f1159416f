import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { REPO } from './paths.js';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import pg from 'pg';

export { REPO, SHARED_STORES } from './paths.js';
export const CLI = path.join(REPO, 'dist/cli/bin.js');
export const TINY_MODEL = path.join(REPO, 'fixtures/models/tiny-bert');
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/pgvector_migrate_test';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines (the format the CLI uses when stdout is not a TTY). */
  lines: Record<string, unknown>[];
}

/** Runs the built CLI as a user would, in its own process; stdout is a pipe, so it prints JSON lines. */
export function runCli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
    // The tests choose the database explicitly; an inherited DATABASE_URL must not redirect them.
    if (options.env?.DATABASE_URL === undefined) delete env.DATABASE_URL;
    if (options.env?.ENCRYPTION_MASTER_KEY === undefined) delete env.ENCRYPTION_MASTER_KEY;
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd ?? REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = stdout
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, stdout, stderr, lines });
    });
  });
}

export type OracleStore = { texts: (string | null)[] } | { error: string };

/** The texts of every store as Python's json + cryptography.fernet read them (scripts/read_user_data.py). */
export function pythonOracle(root: string, masterKey: string | null): Record<string, OracleStore> {
  const out = execFileSync('python3', [path.join(REPO, 'scripts/read_user_data.py'), root, masterKey ?? ''], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(out) as Record<string, OracleStore>;
}

export interface DbRow {
  id: string;
  user_id: string;
  collection_name: string;
  source_index: number;
  text: string;
  content_sha256: string;
  embedding_model: string;
  metadata: Record<string, unknown>;
  dims: number;
}

export type Target = { driver: 'pglite'; dir: string } | { driver: 'pg'; url: string };

const ROWS_SQL = (table: string) =>
  `SELECT id::text AS id, user_id, collection_name, source_index, text, content_sha256, embedding_model, metadata, vector_dims(embedding) AS dims
     FROM "${table}" ORDER BY user_id, collection_name, source_index`;

/** Runs read-only SQL against the database the CLI wrote, through a separate connection. */
export async function withDb<T>(target: Target, fn: (query: <R>(sql: string, params?: unknown[]) => Promise<R[]>) => Promise<T>): Promise<T> {
  if (target.driver === 'pg') {
    const client = new pg.Client({ connectionString: target.url });
    await client.connect();
    try {
      return await fn(async <R,>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as R[]);
    } finally {
      await client.end();
    }
  }
  const db = await PGlite.create(target.dir, { extensions: { vector } });
  try {
    return await fn(async <R,>(sql: string, params?: unknown[]) => (await db.query<R>(sql, params)).rows);
  } finally {
    await db.close();
  }
}

export function readRows(target: Target, table: string): Promise<DbRow[]> {
  return withDb(target, (q) => q<DbRow>(ROWS_SQL(table)));
}

export async function tableExists(target: Target, table: string): Promise<boolean> {
  const rows = await withDb(target, (q) => q<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]));
  return rows[0]?.t !== null && rows[0]?.t !== undefined;
}

/** Drops a test's documents table and the `<table>_previous` every live load creates beside it. */
export async function dropTable(url: string, table: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS "${table}_previous", "${table}"`);
  } finally {
    await client.end();
  }
}

/** Drops every table (and partitioned table) whose name starts with `prefix`: a test's table and its side tables. */
export async function dropTablesLike(url: string, prefix: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ relname: string }>(`SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND relname LIKE $1`, [`${prefix}%`]);
    for (const r of rows) await client.query(`DROP TABLE IF EXISTS "${r.relname}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Arguments that point the CLI at a target database. */
export function targetArgs(target: Target): string[] {
  return target.driver === 'pg' ? ['--database-url', target.url] : ['--pglite-dir', target.dir];
}

export interface EmbeddingRow {
  source_index: number;
  embedding: number[];
  pca_model_id: string | null;
  type: string;
}

/** A user's stored vectors as the database returns them (text form parsed), in source order. */
export async function readEmbeddings(target: Target, table: string, userId: string): Promise<EmbeddingRow[]> {
  const rows = await withDb(target, (q) =>
    q<{ source_index: number; e: string; pca_model_id: string | null; type: string }>(
      `SELECT source_index, embedding::text AS e, pca_model_id::text AS pca_model_id, pg_typeof(embedding)::text AS type FROM "${table}" WHERE user_id = $1 ORDER BY collection_name, source_index`,
      [userId],
    ),
  );
  return rows.map((r) => ({ source_index: r.source_index, embedding: JSON.parse(r.e) as number[], pca_model_id: r.pca_model_id, type: r.type }));
}

export function pythonVectors(root: string, masterKey: string | null): Record<string, { texts: (string | null)[]; vectors: number[][] } | { error: string }> {
  const out = execFileSync('python3', [path.join(REPO, 'scripts/read_user_data.py'), root, masterKey ?? '', '--vectors'], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  return JSON.parse(out) as Record<string, { texts: (string | null)[]; vectors: number[][] } | { error: string }>;
}
