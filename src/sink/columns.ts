/**
 * The documents table's row, defined once: every column the sink writes, copies or checks, and
 * `<table>_previous`'s own. The binary COPY encoder's field order, the required-column checks and
 * the column lists of sql/queries/*.sql (filled in as `{{…_columns}}` placeholders) all derive
 * from DOCUMENT_COLUMNS, so adding a column is one entry here plus a numbered schema migration
 * (sql/schema/, run by schema.ts schemaStatements) that adds it to existing tables.
 *
 * The CREATE TABLE files (sql/schema/001 and 005) are migrations and keep their history;
 * test/sink-columns.test.ts checks that the tables ensureSchema creates have exactly these
 * columns and types, so the two cannot drift apart.
 */
import { quoteIdent, type SqlFragment } from './identifiers.js';

/**
 * A column's type as PostgreSQL's format_type prints it. `embedding` stands for the table's own
 * `vector(n)` or `halfvec(n)`: its type and dimension are chosen per table.
 */
export type ColumnType = 'uuid' | 'character varying(255)' | 'text' | 'embedding' | 'jsonb' | 'timestamp with time zone' | 'character(64)' | 'integer';

export interface DocumentColumn {
  readonly name: string;
  readonly type: ColumnType;
  /** NOT NULL on the documents table (and on `_previous`, which is nullable wherever the documents table is). */
  readonly notNull: boolean;
  /** Written by every load's binary COPY, in this array's order; false: the table's default fills it. */
  readonly copy: boolean;
  /**
   * An existing table must have it to be loaded; false: ensureSchema adds it when missing (it
   * came after the first tables were created, by the schema migration named in its comment).
   */
  readonly required: boolean;
  /**
   * How `<table>_previous` carries it (rollback puts every carried column back as it was saved):
   * 'required' of an existing one, or 'added' by ensureSchema when missing.
   */
  readonly previous: 'required' | 'added';
  /** Produced by embedding: a re-embed writes it new; every other column is copied from the row. */
  readonly embedded: boolean;
}

/** In the order a table created today has them (the order of the binary COPY's fields too). */
export const DOCUMENT_COLUMNS = [
  { name: 'id', type: 'uuid', notNull: true, copy: true, required: true, previous: 'required', embedded: false },
  { name: 'user_id', type: 'character varying(255)', notNull: true, copy: true, required: true, previous: 'required', embedded: false },
  { name: 'collection_name', type: 'character varying(255)', notNull: true, copy: true, required: true, previous: 'required', embedded: false },
  { name: 'text', type: 'text', notNull: true, copy: true, required: true, previous: 'required', embedded: false },
  { name: 'embedding', type: 'embedding', notNull: true, copy: true, required: true, previous: 'required', embedded: true },
  { name: 'metadata', type: 'jsonb', notNull: false, copy: true, required: true, previous: 'required', embedded: false },
  { name: 'created_at', type: 'timestamp with time zone', notNull: false, copy: false, required: true, previous: 'required', embedded: false },
  { name: 'updated_at', type: 'timestamp with time zone', notNull: false, copy: false, required: true, previous: 'required', embedded: false },
  // Provenance (PROVENANCE_COLUMNS): nullable since 011/012, NULL in the rows an application wrote.
  { name: 'content_sha256', type: 'character(64)', notNull: false, copy: true, required: true, previous: 'required', embedded: false },
  { name: 'embedding_model', type: 'text', notNull: false, copy: true, required: true, previous: 'required', embedded: true },
  { name: 'source_index', type: 'integer', notNull: false, copy: true, required: true, previous: 'required', embedded: false },
  // schema/004_documents_pca_model.sql; `_previous` (005) was created with it.
  { name: 'pca_model_id', type: 'uuid', notNull: false, copy: true, required: false, previous: 'required', embedded: true },
  // schema/006_documents_fingerprint.sql, and 007 on `_previous`.
  { name: 'embedding_fingerprint', type: 'text', notNull: false, copy: true, required: false, previous: 'added', embedded: true },
] as const satisfies readonly DocumentColumn[];

type Column = (typeof DOCUMENT_COLUMNS)[number];
export type ColumnName = Column['name'];
/** Columns ensureSchema adds to an existing table (a typo, or a required column, does not compile). */
export type AddedColumn = Extract<Column, { required: false }>['name'];
export type CopyColumn = Extract<Column, { copy: true }>['name'];

/** `<table>_previous`'s own columns, after the documents table's (schema/005_documents_previous.sql). */
export const PREVIOUS_OWN_COLUMNS = [
  // A target table that has replaced_by_run is somebody's previous-rows table.
  { name: 'replaced_by_run', type: 'uuid', notNull: true },
  { name: 'replaced_at', type: 'timestamp with time zone', notNull: true },
] as const satisfies readonly Pick<DocumentColumn, 'name' | 'type' | 'notNull'>[];

export const COPY_COLUMNS: readonly CopyColumn[] = DOCUMENT_COLUMNS.filter((c): c is Extract<Column, { copy: true }> => c.copy).map((c) => c.name);

/** A table lacking any of these cannot be loaded (the others ensureSchema adds). */
export const REQUIRED_COLUMNS: readonly ColumnName[] = DOCUMENT_COLUMNS.filter((c) => c.required).map((c) => c.name);

/** Every column `_previous` must already have to be the previous-rows table of a documents table. */
export const PREVIOUS_REQUIRED_COLUMNS: readonly string[] = [
  ...DOCUMENT_COLUMNS.filter((c) => c.previous === 'required').map((c) => c.name),
  ...PREVIOUS_OWN_COLUMNS.map((c) => c.name),
];

/** Written by every load, added by ensureSchema (schema/004) to tables created before it. */
export const PCA_MODEL_COLUMN = 'pca_model_id' satisfies AddedColumn;
/** Likewise (schema/006, and 007 on `_previous`, so that a rollback restores it). */
export const FINGERPRINT_COLUMN = 'embedding_fingerprint' satisfies AddedColumn;
export const REPLACED_BY_RUN_COLUMN = PREVIOUS_OWN_COLUMNS[0].name;

/**
 * Written by every load, but NULL in rows an application wrote (schema/011 and 012 lift NOT NULL
 * from tables created before they were nullable). source_index IS NOT NULL marks a tool row.
 */
export const PROVENANCE_COLUMNS: readonly ColumnName[] = ['content_sha256', 'embedding_model', 'source_index'];

/** The column's type on a table whose embedding column is `embeddingType` (e.g. `vector(384)`). */
export function formatType(column: Pick<DocumentColumn, 'type'>, embeddingType: string): string {
  return column.type === 'embedding' ? embeddingType : column.type;
}

/**
 * The column lists sql/queries/*.sql take as placeholders (aliases: the queries' own, `m` the
 * documents table, `st` the staging table, `s` the re-embed side table):
 * - copy_columns: the COPY's fields (copy_staging_*.sql) and what insert_staged.sql moves on;
 * - row_columns: the whole row, every value as it is (previous_save.sql, rollback_restore.sql,
 *   reembed_insert_staged.sql's target);
 * - reembed_select: that row with the embedded columns from staging and the rest from `m`;
 * - sync_set / sync_side / sync_main: the copied columns besides the join keys (id, text), which
 *   reembed_sync.sql brings onto the side rows when an application changed them;
 * - relayout_kept: every column a re-layout copies unchanged, as `m` (relayout_source.sql writes
 *   the other three: the embedding, its PCA model and its fingerprint);
 * - side_row / source_row: the whole row as `s` (side table) and `t` (relayout_source.sql's rows),
 *   compared column by column by the relayout_*.sql files.
 */
export interface ColumnSql {
  copy_columns: SqlFragment;
  row_columns: SqlFragment;
  reembed_select: SqlFragment;
  sync_set: SqlFragment;
  sync_side: SqlFragment;
  sync_main: SqlFragment;
  relayout_kept: SqlFragment;
  side_row: SqlFragment;
  source_row: SqlFragment;
}

/** The join keys of a re-embed: a side row is the documents row of the same id and text. */
const REEMBED_KEYS: ReadonlySet<string> = new Set<ColumnName>(['id', 'text']);

/** What a re-layout writes anew (relayout_source.sql): the vector, its PCA model and the space it is in. */
const RELAYOUT_REWRITTEN: ReadonlySet<string> = new Set<ColumnName>(['embedding', 'pca_model_id', 'embedding_fingerprint']);

export function columnSql(columns: readonly DocumentColumn[] = DOCUMENT_COLUMNS): ColumnSql {
  const synced = columns.filter((c) => !c.embedded && !REEMBED_KEYS.has(c.name));
  return {
    copy_columns: list(columns.filter((c) => c.copy).map((c) => quoteIdent(c.name))),
    row_columns: list(columns.map((c) => quoteIdent(c.name))),
    reembed_select: list(columns.map((c) => qualified(c.embedded ? 'st' : 'm', c.name))),
    sync_set: list(synced.map((c) => `${quoteIdent(c.name)} = ${qualified('m', c.name)}`)),
    sync_side: list(synced.map((c) => qualified('s', c.name))),
    sync_main: list(synced.map((c) => qualified('m', c.name))),
    relayout_kept: list(columns.filter((c) => !RELAYOUT_REWRITTEN.has(c.name)).map((c) => qualified('m', c.name))),
    side_row: list(columns.map((c) => qualified('s', c.name))),
    source_row: list(columns.map((c) => qualified('t', c.name))),
  };
}

/** Computed once: the definition is constant. */
export const COLUMN_SQL: ColumnSql = columnSql();

function qualified(alias: 'm' | 'st' | 's' | 't', name: string): string {
  return `${alias}.${quoteIdent(name)}`;
}

/** Every part is a quoted identifier (quoteIdent), possibly behind a fixed alias. */
function list(parts: readonly string[]): SqlFragment {
  return parts.join(', ') as SqlFragment;
}
