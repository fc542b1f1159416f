/**
 * Checks a --map against the source table's catalog before anything is read or written: the
 * table exists, every mapped column exists with a type the load can read, and the row id column
 * is known (the single-column primary key by default). The result is the SQL fragments of the
 * mapping: quoted columns or fixed constant slots, never text from --map itself.
 */
import { MigrateError } from '../errors.js';
import type { MappedValue, TableMapping } from '../source/tableTypes.js';
import type { SqlRunner } from './driver.js';
import { resolveTable, SOURCE_SQL, sourceColumn, type SqlFragment } from './identifiers.js';
import { sqlFile } from './sqlFiles.js';

interface ColumnRow extends Record<string, unknown> {
  name: string;
  type_name: string;
  formatted_type: string;
}

/** Which types each mapped key accepts (pg_type.typname), as the messages name them. */
const ACCEPTED = {
  id: ['int2', 'int4', 'int8', 'numeric', 'text', 'varchar', 'uuid'],
  user_id: ['text', 'varchar', 'int2', 'int4', 'int8'],
  collection: ['text', 'varchar', 'int2', 'int4', 'int8'],
  text: ['text', 'varchar'],
  metadata: ['json', 'jsonb'],
  vector: ['vector', 'halfvec', '_float4', '_float8'],
} as const;
type Key = keyof typeof ACCEPTED;
const SHOWN: Record<string, string> = { _float4: 'real[]', _float8: 'double precision[]', int2: 'smallint', int4: 'integer', int8: 'bigint', varchar: 'varchar' };

export type SourceFragments = Readonly<Record<'table' | 'id' | 'owner' | 'collection' | 'text' | 'metadata' | 'vector', SqlFragment>>;

export interface CheckedSource {
  /** schema.table as the catalog resolved it. */
  qualified: string;
  fragments: SourceFragments;
  /** The bound constants ($1 owner, $2 collection; null where a column is mapped). */
  constants: [string | null, string | null];
  idColumn: string;
}

function column(columns: Map<string, ColumnRow>, table: string, key: Key, name: string): SqlFragment {
  const found = columns.get(name);
  if (found === undefined) {
    const names = [...columns.keys()].join(', ');
    throw new MigrateError('E_SOURCE', `--map ${key}=${name}: ${table} has no column ${name} (its columns: ${names})`);
  }
  const accepted: readonly string[] = ACCEPTED[key];
  if (!accepted.includes(found.type_name)) {
    throw new MigrateError('E_SOURCE', `--map ${key}=${name}: column ${name} of ${table} is ${found.formatted_type}; ${key} needs ${accepted.map((t) => SHOWN[t] ?? t).join(', ')}`);
  }
  return sourceColumn(name);
}

function mapped(columns: Map<string, ColumnRow>, table: string, key: 'user_id' | 'collection', value: MappedValue, constant: SqlFragment): SqlFragment {
  return value.kind === 'constant' ? constant : column(columns, table, key, value.name);
}

export async function checkSourceTable(db: SqlRunner, table: string, mapping: TableMapping): Promise<CheckedSource> {
  const resolved = resolveTable(table);
  const [identity] = (await db.query<{ schema_name: string; table_name: string; kind: string }>(sqlFile('queries/source_table_identity.sql'), [resolved.regclassText])).rows;
  if (identity === undefined) throw new MigrateError('E_SOURCE', `--from-table ${table}: no such table in the source database (check the name, the schema and the search_path)`);
  if (!['r', 'p', 'v', 'm', 'f'].includes(identity.kind)) throw new MigrateError('E_SOURCE', `--from-table ${table} is not a table or view (relkind ${identity.kind})`);
  const columns = new Map((await db.query<ColumnRow>(sqlFile('queries/table_columns.sql'), [resolved.regclassText])).rows.map((c) => [c.name, c]));
  let idColumn = mapping.id;
  if (idColumn === null) {
    const keys = (await db.query<{ name: string }>(sqlFile('queries/source_primary_key.sql'), [resolved.regclassText])).rows;
    const [only] = keys;
    if (keys.length !== 1 || only === undefined) {
      throw new MigrateError('E_USAGE', `--from-table ${table} has ${keys.length === 0 ? 'no primary key' : `a ${keys.length}-column primary key`}: say which column identifies a row with --map id=COLUMN (unique, not null)`);
    }
    idColumn = only.name;
  }
  const owner = mapping.userId;
  if (owner === null) throw new MigrateError('E_USAGE', 'a table source needs an owner: --map user_id=COLUMN or a constant, or --user U');
  return {
    qualified: `${identity.schema_name}.${identity.table_name}`,
    idColumn,
    constants: [owner.kind === 'constant' ? owner.value : null, mapping.collection.kind === 'constant' ? mapping.collection.value : null],
    fragments: {
      table: resolved.quoted,
      id: column(columns, table, 'id', idColumn),
      owner: mapped(columns, table, 'user_id', owner, SOURCE_SQL.ownerConstant),
      collection: mapped(columns, table, 'collection', mapping.collection, SOURCE_SQL.collectionConstant),
      text: column(columns, table, 'text', mapping.text),
      metadata: mapping.metadata === null ? SOURCE_SQL.none : column(columns, table, 'metadata', mapping.metadata),
      vector: mapping.vector === null ? SOURCE_SQL.none : column(columns, table, 'vector', mapping.vector),
    },
  };
}
