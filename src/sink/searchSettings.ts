/**
 * Per-user top-k with an HNSW index: once a table is ANALYZEd the planner scans the index and
 * filters by user_id afterwards, so a scan that stops after ef_search candidates returns fewer
 * than k of the user's rows (2.8 of 10 on 20 users x 1000 rows). pgvector 0.8's iterative scan
 * keeps scanning until it has k. This module sets it for this tool's own searches (per
 * transaction) and as a database or role default for every other client (setup-search).
 */
import { MigrateError } from '../errors.js';
import type { Driver, SqlRunner } from './driver.js';
import { quoteIdent } from './identifiers.js';
import { sqlFile } from './sqlFiles.js';
import type { SearchSetup } from './types.js';

/** The setting this module makes, as `SHOW` and pg_db_role_setting spell it. */
export const ITERATIVE_SCAN_SETTING = 'hnsw.iterative_scan=relaxed_order';

interface VersionRow extends Record<string, unknown> {
  installed_version: string | null;
  available_version: string | null;
}

interface DefaultsRow extends Record<string, unknown> {
  database: string;
  role_exists: boolean | null;
  already_set: boolean;
}

/** Whether a pgvector version (`0.8.0`, `0.7.4`, ...) has hnsw.iterative_scan (0.8.0 and later). */
export function hasIterativeScan(version: string | null): boolean {
  const match = version === null ? null : /^(\d+)\.(\d+)/.exec(version);
  if (match === null) return false;
  const major = Number(match[1]);
  const minor = Number(match[2]);
  return major > 0 || minor >= 8;
}

/** The pgvector version the server runs for this database: the installed one, else the one it would install. */
async function pgvectorVersion(db: SqlRunner): Promise<string | null> {
  const { rows } = await db.query<VersionRow>(sqlFile('queries/server_info.sql'));
  const row = rows[0];
  return row === undefined ? null : (row.installed_version ?? row.available_version);
}

/**
 * Inside a transaction about to search: turns the iterative scan on for that transaction when
 * pgvector has it. Older pgvector has no such setting (SET would fail): its searches stay as they were.
 */
export async function useIterativeScan(tx: SqlRunner): Promise<void> {
  if (hasIterativeScan(await pgvectorVersion(tx))) await tx.query(sqlFile('queries/search_iterative_scan.sql'));
}

/** The advice of setup-search where it cannot set a default. */
const WITHOUT_DEFAULTS =
  'partition the table by user (migrate --partitions N, so that each user is searched in a small partition), or search exactly (drop the HNSW index, or SET enable_indexscan = off in the searching session)';

/**
 * Makes `hnsw.iterative_scan = relaxed_order` the default of every new connection to the current
 * database (or, with `role`, of that role's connections to it). Idempotent: `changed` is false
 * when the default was already there. E_UNSUPPORTED on pgvector older than 0.8 and on PGlite
 * (it stores such defaults but never applies them); E_USAGE for an unknown role.
 */
export async function setupSearchDefaults(db: Driver, role: string | null): Promise<SearchSetup> {
  if (db.name === 'pglite') {
    throw new MigrateError(
      'E_UNSUPPORTED',
      `PGlite (${db.location}) applies no database or role defaults (ALTER DATABASE ... SET is stored but ignored whenever the directory is opened), so setup-search cannot change what other connections do: each connection must run SET hnsw.iterative_scan = relaxed_order itself (this tool's query and verify already do)`,
    );
  }
  const version = await pgvectorVersion(db);
  if (!hasIterativeScan(version)) {
    throw new MigrateError(
      'E_UNSUPPORTED',
      `pgvector ${version ?? '(not installed)'} on ${db.location} has no hnsw.iterative_scan (it arrived in 0.8.0), so per-user searches through the HNSW index may return fewer than k rows; upgrade pgvector (ALTER EXTENSION vector UPDATE after installing 0.8+), or ${WITHOUT_DEFAULTS}`,
    );
  }
  const { rows } = await db.query<DefaultsRow>(sqlFile('queries/search_defaults.sql'), [role]);
  const state = rows[0];
  if (state === undefined) throw new MigrateError('E_INTERNAL', 'search_defaults.sql returned no row');
  if (role !== null && state.role_exists !== true) throw new MigrateError('E_USAGE', `role ${JSON.stringify(role)} does not exist on ${db.location}; create it first (CREATE ROLE) or give another --role`);
  if (!state.already_set) {
    const database = quoteIdent(state.database);
    await db.query(role === null ? sqlFile('queries/search_default_database.sql', { database }) : sqlFile('queries/search_default_role.sql', { role: quoteIdent(role), database }));
  }
  return { database: state.database, role, setting: ITERATIVE_SCAN_SETTING, pgvectorVersion: version as string, changed: !state.already_set };
}
