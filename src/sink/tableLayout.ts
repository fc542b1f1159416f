/**
 * The documents table's layout beyond its columns: hash partitions on user_id (--partitions) and
 * row-level security (--rls, setup-rls). Read from the catalogs; the DDL is in sql/schema/
 * 001_documents.sql (partitioned form), 008_documents_partition.sql, 009_documents_rls.sql and
 * 010_documents_rls_policy.sql.
 */
import { MigrateError } from '../errors.js';
import type { SqlRunner } from './driver.js';
import { partitionTable, RLS_POLICY, RLS_POLICY_NAME, validatePartitions, type ResolvedTable, type SqlFragment } from './identifiers.js';
import { sqlFile } from './sqlFiles.js';

export interface TableLayout {
  exists: boolean;
  /** relkind 'p': partitioned in any way (by this tool or by hand). */
  partitioned: boolean;
  /** Partition count when hash-partitioned on user_id alone; null otherwise (or no table). */
  hashPartitions: number | null;
  rlsEnabled: boolean;
  rlsForced: boolean;
  /** This tool's policy (RLS_POLICY_NAME) exists on the table. */
  hasPolicy: boolean;
}

interface LayoutRow extends Record<string, unknown> {
  rls_enabled: boolean;
  rls_forced: boolean;
  has_policy: boolean;
  partitioned: boolean;
  hash_partitions: number | null;
}

export async function readTableLayout(db: SqlRunner, table: ResolvedTable): Promise<TableLayout> {
  const { rows } = await db.query<LayoutRow>(sqlFile('queries/table_layout.sql'), [table.regclassText, RLS_POLICY_NAME]);
  const row = rows[0];
  if (row === undefined) return { exists: false, partitioned: false, hashPartitions: null, rlsEnabled: false, rlsForced: false, hasPolicy: false };
  return {
    exists: true,
    partitioned: row.partitioned === true,
    hashPartitions: row.hash_partitions === null ? null : Number(row.hash_partitions),
    rlsEnabled: row.rls_enabled === true,
    rlsForced: row.rls_forced === true,
    hasPolicy: row.has_policy === true,
  };
}

/** DatabaseInfo.tableRls: enabled AND forced (whatever the policies). */
export function rlsActive(layout: TableLayout): boolean {
  return layout.rlsEnabled && layout.rlsForced;
}

/**
 * Throws unless an existing table has the partitions asked for. `partitions` undefined: any
 * layout is fine (a later migrate without --partitions keeps loading a partitioned table).
 * Never re-creates anything: a table of another layout must be moved by the operator (or by
 * reembed into a new table), since re-partitioning rewrites every row.
 */
export function assertPartitions(layout: TableLayout, table: ResolvedTable, partitions: number | undefined): void {
  if (partitions === undefined) return;
  validatePartitions(partitions);
  if (!layout.exists || layout.hashPartitions === partitions) return;
  const has = layout.hashPartitions !== null ? `${layout.hashPartitions} hash partitions on user_id` : layout.partitioned ? 'another partitioning' : 'no partitions';
  throw new MigrateError(
    'E_SCHEMA',
    `table ${table.display} already exists with ${has}, not ${partitions}; an existing table is never re-created: drop --partitions to keep loading it as it is, or load into a new --table with --partitions ${partitions}`,
  );
}

/** 001_documents.sql's layout placeholders for a table created plain, or hash-partitioned. */
export const PLAIN_LAYOUT: Readonly<Record<'primary_key' | 'partitioning', SqlFragment>> = { primary_key: 'id' as SqlFragment, partitioning: '' as SqlFragment };
const PARTITIONED_LAYOUT: Readonly<Record<'primary_key' | 'partitioning', SqlFragment>> = {
  primary_key: 'id, user_id' as SqlFragment,
  partitioning: 'PARTITION BY HASH (user_id)' as SqlFragment,
};

/**
 * The statements creating a new hash-partitioned table: the parent (001 in its partitioned form), then its
 * `count` partitions. `values` are schemaStatements' placeholders (table, types, index names).
 */
export function partitionedTableStatements(table: ResolvedTable, count: number, values: Readonly<Record<string, SqlFragment>>): string[] {
  const modulus = validatePartitions(count);
  const statements = [sqlFile('schema/001_documents.sql', { ...values, ...PARTITIONED_LAYOUT })];
  for (let remainder = 0; remainder < count; remainder++) {
    const partition = partitionTable(table, remainder);
    statements.push(sqlFile('schema/008_documents_partition.sql', { partition: partition.table.quoted, table: table.quoted, modulus, remainder: partition.remainder }));
  }
  return statements;
}

/** What makes the table's RLS complete (idempotent): nothing when it already is. */
export function rlsStatements(layout: TableLayout, table: ResolvedTable): string[] {
  const statements: string[] = [];
  // ALTER TABLE takes an ACCESS EXCLUSIVE lock even when it changes nothing: skipped when done.
  if (!layout.rlsEnabled || !layout.rlsForced) statements.push(sqlFile('schema/009_documents_rls.sql', { table: table.quoted }));
  if (!layout.hasPolicy) statements.push(sqlFile('schema/010_documents_rls_policy.sql', { table: table.quoted, policy: RLS_POLICY }));
  return statements;
}
