/**
 * Identifiers and the dimension are the only things ever spliced into SQL text (values always
 * travel as bind parameters). Each is validated here and comes out as a `SqlFragment`, the only
 * type the template renderer accepts, so an unvalidated string cannot reach SQL by accident.
 */
import { createHash } from 'node:crypto';
import { MigrateError } from '../errors.js';
import type { VectorType, Distance } from './types.js';

declare const fragmentBrand: unique symbol;
/** SQL text produced by this module: a double-quoted identifier or a validated integer. */
export type SqlFragment = string & { readonly [fragmentBrand]: true };

/**
 * Lower-case only: PostgreSQL folds unquoted names to lower case, so accepting `Docs` and quoting
 * it would create a table that `SELECT * FROM Docs` in psql cannot find.
 */
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
/** PostgreSQL silently truncates longer names (NAMEDATALEN - 1), which could make two names collide. */
const MAX_IDENTIFIER_BYTES = 63;
export const MIN_DIMENSIONS = 1;
/** pgvector's limit for the `vector` type (its HNSW index stops at 2,000: see schema.ts). */
export const MAX_DIMENSIONS = 16000;

export interface ResolvedTable {
  schema: string | null;
  name: string;
  /** `"schema"."name"` or `"name"`, ready for SQL text. */
  quoted: SqlFragment;
  /** The same, as a text value for `to_regclass($1)` (resolved with the same search_path as the DDL). */
  regclassText: string;
  /** For messages: schema.name as the user wrote it. */
  display: string;
}

export function quoteIdent(name: string): SqlFragment {
  if (!IDENTIFIER.test(name) || name.length > MAX_IDENTIFIER_BYTES) {
    throw new MigrateError(
      'E_USAGE',
      `invalid SQL identifier ${JSON.stringify(name)}: use 1-${MAX_IDENTIFIER_BYTES} lower-case letters, digits and underscores, not starting with a digit`,
    );
  }
  return `"${name}"` as SqlFragment;
}

/** Parses `table` or `schema.table`; E_USAGE for anything else. */
export function resolveTable(table: string): ResolvedTable {
  const parts = table.split('.');
  if (parts.length > 2) {
    throw new MigrateError('E_USAGE', `invalid table name ${JSON.stringify(table)}: expected table or schema.table`);
  }
  const name = parts.length === 2 ? (parts[1] as string) : (parts[0] as string);
  const schema = parts.length === 2 ? (parts[0] as string) : null;
  const quotedName = quoteIdent(name);
  const quoted = (schema === null ? quotedName : `${quoteIdent(schema)}.${quotedName}`) as SqlFragment;
  return { schema, name, quoted, regclassText: quoted, display: table };
}

export function validateDimensions(dimensions: number): SqlFragment {
  if (!Number.isInteger(dimensions) || dimensions < MIN_DIMENSIONS || dimensions > MAX_DIMENSIONS) {
    throw new MigrateError('E_USAGE', `invalid vector dimension ${dimensions}: expected an integer from ${MIN_DIMENSIONS} to ${MAX_DIMENSIONS}`);
  }
  return String(dimensions) as SqlFragment;
}

/**
 * Name of an index on `table`, unqualified (an index always lives in its table's schema).
 * Long table names are shortened with a hash so the name never exceeds 63 bytes: truncation by
 * the server could give both indexes one name, and `IF NOT EXISTS` would then skip the second.
 */
export function indexName(table: ResolvedTable, suffix: string): SqlFragment {
  return quoteIdent(suffixedName(table.name, suffix));
}

/**
 * `name_suffix`, or when that exceeds 63 bytes `<prefix of name>_<8 hex of sha256(name)>_suffix`:
 * deterministic (every run derives the same name) and distinct for distinct names (two tables
 * sharing a 46-character prefix still differ by the hash). Names are ASCII, so bytes = characters.
 */
export function suffixedName(name: string, suffix: string): string {
  const full = `${name}_${suffix}`;
  if (full.length <= MAX_IDENTIFIER_BYTES) return full;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  const keep = MAX_IDENTIFIER_BYTES - suffix.length - hash.length - 2;
  return `${name.slice(0, keep)}_${hash}_${suffix}`;
}

/** Column types of `embedding` the sink creates and loads. */
const VECTOR_TYPES = ['vector', 'halfvec'] as const satisfies readonly VectorType[];

/**
 * The target's vector type ('vector' when absent), checked at run time too: the value may come
 * from a configuration file, and it is spliced into DDL and casts.
 */
export function resolveVectorType(type: VectorType | undefined): VectorType {
  if (type === undefined) return 'vector';
  if (!(VECTOR_TYPES as readonly string[]).includes(type)) {
    throw new MigrateError('E_USAGE', `invalid vector type ${JSON.stringify(type)}: expected ${VECTOR_TYPES.join(' or ')}`);
  }
  return type;
}

/** `vector` or `halfvec` as SQL text (a type name in DDL and casts). */
export function vectorTypeSql(type: VectorType): SqlFragment {
  return resolveVectorType(type) as SqlFragment;
}

/** The HNSW operator class for cosine distance on that type. */
/** The HNSW operator class for a column type and distance, e.g. vector_cosine_ops, halfvec_l2_ops. */
export function opsSql(type: VectorType, distance: Distance): SqlFragment {
  return `${resolveVectorType(type)}_${resolveDistance(distance)}_ops` as SqlFragment;
}

/** The pgvector operator for a distance. */
/**
 * pgvector's L2 norm of a column of `type`: `vector_norm(vector)`, `l2_norm(halfvec)` (pgvector
 * 0.7+; there is no l2_norm(vector) nor vector_norm(halfvec)). Calling the column's own function
 * avoids casting every row.
 */
export function normFunctionSql(type: VectorType): SqlFragment {
  return (resolveVectorType(type) === 'halfvec' ? 'l2_norm' : 'vector_norm') as SqlFragment;
}

export function distanceOperatorSql(distance: Distance): SqlFragment {
  return (resolveDistance(distance) === 'l2' ? '<->' : '<=>') as SqlFragment;
}

/** Checked at run time too: the value ends up in SQL text. */
export function resolveDistance(distance: Distance | undefined): Distance {
  if (distance === undefined || distance === 'cosine') return 'cosine';
  if (distance === 'l2') return 'l2';
  throw new MigrateError('E_USAGE', `unknown distance ${String(distance)}`);
}

/** Name of the table holding the fitted PCA models, one per schema. */
export const PCA_MODELS_TABLE = 'vector_pca_models';

/**
 * The PCA models table that belongs to `table`: in the same schema when `table` is qualified
 * (`s.docs` → `s.vector_pca_models`), otherwise unqualified, resolved through the search_path
 * like the documents table itself. A documents table cannot take that name.
 */
export function pcaModelsTable(table: ResolvedTable): ResolvedTable {
  if (table.name === PCA_MODELS_TABLE) {
    throw new MigrateError('E_USAGE', `the table name ${table.display} is reserved for the PCA models of the documents tables; choose another --table`);
  }
  return inSchemaOf(table.schema, PCA_MODELS_TABLE);
}

/** `schema.name`, or `name` resolved through the search_path when `schema` is null. */
function inSchemaOf(schema: string | null, name: string): ResolvedTable {
  return resolveTable(schema === null ? name : `${schema}.${name}`);
}

/**
 * The table keeping the rows a run replaced (for rollback), next to `table` in its schema:
 * `<table>_previous`, shortened with a hash when longer than 63 bytes (suffixedName). A documents
 * table can still be called `docs_previous`; one that IS a previous-rows table (it has a
 * replaced_by_run column) is refused as a target by schema.ts.
 */
export function previousTable(table: ResolvedTable): ResolvedTable {
  return inSchemaOf(table.schema, suffixedName(table.name, 'previous'));
}

/**
 * The side table a re-embedding job fills next to `table` (`<table>_reembed`, shortened like
 * previousTable): one per documents table, so a job can always be found again and resumed.
 */
export function sideTable(table: ResolvedTable): ResolvedTable {
  return inSchemaOf(table.schema, suffixedName(table.name, 'reembed'));
}

/**
 * The name a swap gives the table it replaces: `<table>_prev_<UTC yyyymmddhhmmss>`. The tool never
 * drops it; it is what `reembed --swap-back` restores.
 */
export function retiredTable(table: ResolvedTable, at: Date): ResolvedTable {
  const stamp = at.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return inSchemaOf(table.schema, suffixedName(table.name, `prev_${stamp}`));
}

/**
 * The suffix `suffixedName(tableName, suffix)` was called with to produce `objectName`, or null
 * when `objectName` is not one of those names (an index someone created by hand). Lets a rename
 * carry a table's indexes and partitions over to the names the new table name derives.
 */
export function suffixOf(tableName: string, objectName: string): string | null {
  if (objectName.startsWith(`${tableName}_`)) {
    const suffix = objectName.slice(tableName.length + 1);
    if (suffixedName(tableName, suffix) === objectName) return suffix;
  }
  const hash = createHash('sha256').update(tableName).digest('hex').slice(0, 8);
  const marker = objectName.indexOf(`_${hash}_`);
  if (marker < 0) return null;
  const suffix = objectName.slice(marker + hash.length + 2);
  return suffixedName(tableName, suffix) === objectName ? suffix : null;
}

/** Table names of the run ledger and of the migrations' version table, one set per schema. */
export const LEDGER_TABLE_NAMES = {
  migrations: 'pgvector_migrate_migrations',
  runs: 'migration_runs',
  stores: 'migration_stores',
  replacements: 'migration_replacements',
  reembeds: 'reembed_jobs',
} as const;

export interface LedgerTables {
  /** Version table of sql/migrations/ (which migrations this schema has had). */
  migrations: ResolvedTable;
  runs: ResolvedTable;
  stores: ResolvedTable;
  replacements: ResolvedTable;
  /** Re-embedding jobs (reembed): one side table each, swapped in when complete. */
  reembeds: ResolvedTable;
  /** Placeholder values of the migration files and the ledger queries. */
  sql: Readonly<Record<string, SqlFragment>>;
}

/**
 * The ledger of a schema (null: the first schema of the search_path, where an unqualified
 * documents table and its vector_pca_models live too).
 */
export function ledgerTables(schema: string | null): LedgerTables {
  const [migrations, runs, stores, replacements, reembeds] = [
    LEDGER_TABLE_NAMES.migrations,
    LEDGER_TABLE_NAMES.runs,
    LEDGER_TABLE_NAMES.stores,
    LEDGER_TABLE_NAMES.replacements,
    LEDGER_TABLE_NAMES.reembeds,
  ].map((name) => inSchemaOf(schema, name)) as [ResolvedTable, ResolvedTable, ResolvedTable, ResolvedTable, ResolvedTable];
  return {
    migrations,
    runs,
    stores,
    replacements,
    reembeds,
    sql: {
      migrations: migrations.quoted,
      runs: runs.quoted,
      stores: stores.quoted,
      replacements: replacements.quoted,
      reembeds: reembeds.quoted,
      reembeds_running_index: indexName(reembeds, 'running_idx'),
      stores_latest_index: indexName(stores, 'latest_idx'),
      stores_run_index: indexName(stores, 'run_idx'),
      replacements_store_index: indexName(replacements, 'store_idx'),
    },
  };
}

/** The ledger that belongs to a documents table: the one of its schema. */
export function ledgerOf(table: ResolvedTable): LedgerTables {
  if ((Object.values(LEDGER_TABLE_NAMES) as string[]).includes(table.name)) {
    throw new MigrateError('E_USAGE', `the table name ${table.display} is reserved for the run ledger of this tool; choose another --table`);
  }
  return ledgerTables(table.schema);
}

/** Hash partitions a documents table may be created with (--partitions): each has its own HNSW index. */
export const MIN_PARTITIONS = 2;
export const MAX_PARTITIONS = 256;

/** E_USAGE unless `count` is an integer from MIN_PARTITIONS to MAX_PARTITIONS; the MODULUS of every partition. */
export function validatePartitions(count: number): SqlFragment {
  if (!Number.isInteger(count) || count < MIN_PARTITIONS || count > MAX_PARTITIONS) {
    throw new MigrateError('E_USAGE', `invalid partition count ${String(count)}: expected an integer from ${MIN_PARTITIONS} to ${MAX_PARTITIONS}`);
  }
  return String(count) as SqlFragment;
}

/**
 * Partition `remainder` (0 … count-1) of a hash-partitioned documents table: `<table>_p<remainder>`
 * in the table's schema, shortened like previousTable (so suffixOf recognises it on a rename).
 */
export function partitionTable(table: ResolvedTable, remainder: number): { table: ResolvedTable; remainder: SqlFragment } {
  if (!Number.isInteger(remainder) || remainder < 0 || remainder >= MAX_PARTITIONS) {
    throw new MigrateError('E_INTERNAL', `invalid partition remainder ${String(remainder)}`);
  }
  return { table: inSchemaOf(table.schema, suffixedName(table.name, `p${remainder}`)), remainder: String(remainder) as SqlFragment };
}

/** The row-level security policy ensureSchema/enableRls create (a policy's name is per table). */
export const RLS_POLICY_NAME = 'pgvector_migrate_user_isolation';
export const RLS_POLICY: SqlFragment = quoteIdent(RLS_POLICY_NAME);

/**
 * Expressions over a source table (`--from-table`, sql/queries/source_*.sql, where the table is
 * `t` and the constants are columns of `p`, bound as parameters): a quoted column of `t`, or one
 * of the fixed texts here. A mapped constant never reaches the SQL text, only its parameter does.
 */
export function sourceColumn(name: string): SqlFragment {
  return `t.${quoteIdent(name)}` as SqlFragment;
}

export const SOURCE_SQL = {
  ownerConstant: 'p.owner_constant' as SqlFragment,
  collectionConstant: 'p.collection_constant' as SqlFragment,
  none: 'NULL' as SqlFragment,
} as const;
