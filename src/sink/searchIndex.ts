/**
 * The table's HNSW index, built once after loading instead of maintained row by row: inserting
 * into a live HNSW graph costs a graph search per row (measured 660 rows/s into an indexed table
 * against 19,800 without, for 384 dimensions), while one build over the loaded rows, with enough
 * maintenance_work_mem for the graph to stay in memory, takes seconds.
 */
import { MigrateError } from '../errors.js';
import type { Driver, SqlRunner } from './driver.js';
import { indexName, opsSql, quoteIdent, suffixedName, type ResolvedTable, type SqlFragment } from './identifiers.js';
import { MAX_HNSW_DIMENSIONS } from './limits.js';
import { sqlFile } from './sqlFiles.js';
import type { Target } from './target.js';
import type { BuildSearchIndexOptions, Distance, SearchIndexState } from './types.js';

/**
 * maintenance_work_mem for a build when the caller gives none. pg: 512MB holds the HNSW graph
 * of ~100k x 384-dimension rows in memory (beyond it the build goes on, much more slowly), and it
 * is a small share of a 2-core / 24 GB server; it applies to the build's session only. PGlite:
 * its WebAssembly heap is this process's memory, so half as much.
 */
export const DEFAULT_INDEX_BUILD_MEMORY: Readonly<Record<Driver['name'], string>> = { pg: '512MB', pglite: '256MB' };

/** A size PostgreSQL accepts for maintenance_work_mem, in units, from 1MB to 64GB. */
const MEMORY = /^([1-9][0-9]{0,7})(kB|MB|GB)$/;
const KB_PER_UNIT = { kB: 1, MB: 1024, GB: 1024 * 1024 } as const;

/** E_USAGE unless `value` is like '512MB' (kB, MB or GB) between 1MB and 64GB. */
export function checkIndexBuildMemory(value: string): string {
  const match = typeof value === 'string' ? MEMORY.exec(value) : null;
  const kb = match === null ? NaN : Number(match[1]) * KB_PER_UNIT[match[2] as keyof typeof KB_PER_UNIT];
  if (!(kb >= 1024 && kb <= 64 * 1024 * 1024)) {
    throw new MigrateError('E_USAGE', `maintenance_work_mem ${JSON.stringify(value)} is not a size from 1MB to 64GB such as '512MB' (units kB, MB or GB)`);
  }
  return value;
}

/** The HNSW index's name (as ensureSchema names it), quoted, and schema-qualified like its table. */
interface IndexName {
  name: string;
  quoted: SqlFragment;
  qualified: SqlFragment;
}

function hnswIndexName(table: ResolvedTable): IndexName {
  const quoted = indexName(table, 'embedding_hnsw_idx');
  const qualified = (table.schema === null ? quoted : `${quoteIdent(table.schema)}.${quoted}`) as SqlFragment;
  return { name: suffixedName(table.name, 'embedding_hnsw_idx'), quoted, qualified };
}

interface IndexStateRow extends Record<string, unknown> {
  relkind: string | null;
  valid: boolean | null;
}

export interface SearchIndexInfo {
  state: SearchIndexState;
  /** A partitioned table: PostgreSQL cannot index it CONCURRENTLY. */
  partitioned: boolean;
}

/** Reads only: works on a read-only sink and in a dry run. */
export async function readSearchIndex(db: SqlRunner, table: ResolvedTable): Promise<SearchIndexInfo> {
  const { rows } = await db.query<IndexStateRow>(sqlFile('queries/search_index_state.sql'), [table.regclassText, hnswIndexName(table).name]);
  const row = rows[0];
  if (row === undefined || row.relkind === null) return { state: null, partitioned: false };
  const state = row.valid === null ? 'missing' : row.valid ? 'valid' : 'invalid';
  return { state, partitioned: row.relkind === 'p' };
}

/**
 * Builds the table's HNSW index if it is missing or invalid (see Sink.buildSearchIndex). The
 * caller has checked that the table matches `t` (type, dimension).
 */
export async function buildSearchIndex(db: Driver, t: Target, distance: Distance, options: BuildSearchIndexOptions): Promise<{ built: boolean; ms: number }> {
  const memory = checkIndexBuildMemory(options.maintenanceWorkMem ?? DEFAULT_INDEX_BUILD_MEMORY[db.name]);
  // No HNSW index exists for such columns (ensureSchema skips it too): searches scan.
  if (t.dimensions > MAX_HNSW_DIMENSIONS[t.vectorType]) return { built: false, ms: 0 };
  const index = hnswIndexName(t.table);
  const values = { table: t.table.quoted, hnsw_index: index.quoted, qualified_index: index.qualified, ops: opsSql(t.vectorType, distance) };
  const before = await readSearchIndex(db, t.table);
  if (before.state === null) throw missingTable(t.table);
  if (before.state === 'valid') return { built: false, ms: 0 };
  const started = performance.now();
  if (options.concurrently === true && db.name === 'pg' && !before.partitioned) {
    await db.session(async (session) => {
      await session.query(sqlFile('queries/maintenance_work_mem_set.sql'), [memory, false]);
      // An invalid index is skipped by IF NOT EXISTS (the name exists) and never used: replace it.
      if (before.state === 'invalid') await session.exec(sqlFile('queries/search_index_drop_concurrently.sql', values));
      await session.exec(sqlFile('queries/search_index_create_concurrently.sql', values));
      await session.exec(sqlFile('queries/maintenance_work_mem_reset.sql'));
    });
    const after = await readSearchIndex(db, t.table);
    if (after.state !== 'valid') {
      throw new MigrateError('E_SCHEMA', `the HNSW index of ${t.table.display} is ${after.state ?? 'gone'} after a concurrent build (another session interfered?); run again`);
    }
  } else {
    const built = await db.transaction(async (tx) => {
      // Same lock as ensureSchema: the two never race on the index.
      await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate schema ${t.table.regclassText}`]);
      const now = await readSearchIndex(tx, t.table);
      if (now.state === null) throw missingTable(t.table);
      if (now.state === 'valid') return false;
      await tx.query(sqlFile('queries/maintenance_work_mem_set.sql'), [memory, true]);
      if (now.state === 'invalid') await tx.exec(sqlFile('queries/search_index_drop.sql', values));
      await tx.exec(sqlFile('schema/002_embedding_hnsw.sql', values));
      return true;
    });
    if (!built) return { built: false, ms: 0 };
  }
  return { built: true, ms: Math.round(performance.now() - started) };
}

function missingTable(table: ResolvedTable): MigrateError {
  return new MigrateError('E_SCHEMA', `table ${table.display} does not exist; create it first (ensureSchema)`);
}
