/** Reads the target table's shape from the catalogs and decides whether rows can go into it. */
import { MigrateError } from '../errors.js';
import type { SqlRunner } from './driver.js';
import { indexName, opsSql, pcaModelsTable, previousTable, validateDimensions, vectorTypeSql, type ResolvedTable } from './identifiers.js';
import { MAX_HNSW_DIMENSIONS } from './limits.js';
import { FINGERPRINT_COLUMN, PCA_MODEL_COLUMN, PREVIOUS_REQUIRED_COLUMNS, PROVENANCE_COLUMNS, REPLACED_BY_RUN_COLUMN, REQUIRED_COLUMNS } from './columns.js';
import { sqlFile } from './sqlFiles.js';
import { partitionedTableStatements, PLAIN_LAYOUT } from './tableLayout.js';
import type { VectorType, Distance } from './types.js';

export interface TableShape {
  exists: boolean;
  /** Dimension of `embedding` when it is a vector(n) or halfvec(n) column; null otherwise. */
  dimensions: number | null;
  /** Type of `embedding` when it is a vector(n) or halfvec(n) column; null otherwise. */
  vectorType: VectorType | null;
  /** `format_type` of `embedding`, e.g. `vector(384)`; null if the column is missing. */
  embeddingType: string | null;
  missingColumns: string[];
  /** False for a table created before the pca_model_id column existed (or no table). */
  hasPcaModelColumn: boolean;
  /** False for a table created before the embedding_fingerprint column existed (or no table). */
  hasFingerprintColumn: boolean;
  /** Every column name, in order (empty if no table). */
  columns: readonly string[];
  /** Some provenance column is still NOT NULL (a table from before 011/012): applications cannot insert. */
  provenanceNotNull: boolean;
}

interface ColumnRow extends Record<string, unknown> {
  name: string;
  type_name: string;
  typmod: number;
  formatted_type: string;
  not_null: boolean;
}

export async function readTableShape(db: SqlRunner, table: ResolvedTable): Promise<TableShape> {
  const { rows } = await db.query<ColumnRow>(sqlFile('queries/table_columns.sql'), [table.regclassText]);
  if (rows.length === 0) {
    return { exists: false, dimensions: null, vectorType: null, embeddingType: null, missingColumns: [...REQUIRED_COLUMNS], hasPcaModelColumn: false, hasFingerprintColumn: false, columns: [], provenanceNotNull: false };
  }
  const names = new Set(rows.map((r) => r.name));
  const embedding = rows.find((r) => r.name === 'embedding');
  const vectorType = embedding !== undefined && Number(embedding.typmod) > 0 ? asVectorType(embedding.type_name) : null;
  return {
    exists: true,
    dimensions: vectorType !== null ? Number(embedding?.typmod) : null,
    vectorType,
    embeddingType: embedding?.formatted_type ?? null,
    missingColumns: REQUIRED_COLUMNS.filter((c) => !names.has(c)),
    hasPcaModelColumn: names.has(PCA_MODEL_COLUMN),
    hasFingerprintColumn: names.has(FINGERPRINT_COLUMN),
    columns: rows.map((r) => r.name),
    provenanceNotNull: rows.some((r) => r.not_null === true && (PROVENANCE_COLUMNS as readonly string[]).includes(r.name)),
  };
}

/** Whether a table exists ($1 resolved like the DDL resolves it). Reads only: dry runs use it. */
export async function relationExists(db: SqlRunner, table: ResolvedTable): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(sqlFile('queries/relation_exists.sql'), [table.regclassText]);
  return rows[0]?.present === true;
}

function asVectorType(typeName: string): VectorType | null {
  return typeName === 'vector' || typeName === 'halfvec' ? typeName : null;
}

/**
 * Throws unless rows of `dimensions` and `vectorType` can go into the (existing) table: E_SCHEMA
 * for a table that lacks columns or whose embedding is neither vector(n) nor halfvec(n),
 * E_DIM_MISMATCH naming both types and dimensions.
 */
export function assertCompatible(shape: TableShape, table: ResolvedTable, dimensions: number, vectorType: VectorType): void {
  if (!shape.exists) return;
  if (shape.columns.includes(REPLACED_BY_RUN_COLUMN)) {
    throw new MigrateError(
      'E_SCHEMA',
      `table ${table.display} keeps the rows runs replaced in another table (it has a ${REPLACED_BY_RUN_COLUMN} column); it cannot be loaded itself: use another --table`,
    );
  }
  if (shape.missingColumns.length > 0) {
    throw new MigrateError(
      'E_SCHEMA',
      `table ${table.display} exists but lacks column(s) ${shape.missingColumns.join(', ')}; use another --table or add them`,
    );
  }
  if (shape.dimensions === null || shape.vectorType === null) {
    throw new MigrateError(
      'E_SCHEMA',
      `table ${table.display} has embedding of type ${shape.embeddingType ?? 'unknown'}; expected ${vectorType}(${dimensions})`,
    );
  }
  if (shape.vectorType !== vectorType) {
    throw new MigrateError(
      'E_DIM_MISMATCH',
      `table ${table.display} stores embeddings as ${shape.vectorType}(${shape.dimensions}) but the rows are ${vectorType}(${dimensions}); load them as ${shape.vectorType} or into another table`,
    );
  }
  if (shape.dimensions !== dimensions) {
    throw new MigrateError(
      'E_DIM_MISMATCH',
      `table ${table.display} holds ${shape.dimensions}-dimension vectors but the rows have ${dimensions}; use another table or the model it was built with`,
    );
  }
}

/**
 * Throws unless `<table>_previous`, when it exists, can take the documents table's rows: every
 * column of PREVIOUS_REQUIRED_COLUMNS (columns.ts), and the same embedding type and dimension
 * (`vectorType`/`dimensions`: the documents table's). E_SCHEMA for a table of that name that is
 * something else (say a documents table called `docs_previous` next to `docs`): the sink never
 * writes into it.
 */
export function assertPreviousCompatible(previous: TableShape, table: ResolvedTable, dimensions: number, vectorType: VectorType): void {
  if (!previous.exists) return;
  const name = previousTable(table).display;
  const missing = PREVIOUS_REQUIRED_COLUMNS.filter((c) => !previous.columns.includes(c));
  if (missing.length > 0) {
    throw new MigrateError(
      'E_SCHEMA',
      `table ${name} exists but is not the previous-rows table of ${table.display} (it lacks ${missing.join(', ')}); rename it, or load into another --table`,
    );
  }
  if (previous.vectorType !== vectorType || previous.dimensions !== dimensions) {
    throw new MigrateError(
      'E_DIM_MISMATCH',
      `table ${name} keeps embeddings as ${previous.embeddingType ?? 'unknown'} but ${table.display} holds ${vectorType}(${dimensions}); the replaced rows could not be kept`,
    );
  }
}

/**
 * Rows are written with pca_model_id and embedding_fingerprint: a table still without them must
 * go through ensureSchema (which adds them) before a load or a rollback writes to it.
 */
export function assertLoadable(shape: TableShape, table: ResolvedTable): void {
  assertPcaModelColumn(shape, table);
  if (shape.exists && !shape.hasFingerprintColumn) throw lacksColumn(table.display, FINGERPRINT_COLUMN);
}

/** Reads that select pca_model_id (and not the fingerprint) only need that column. */
export function assertPcaModelColumn(shape: TableShape, table: ResolvedTable): void {
  if (shape.exists && !shape.hasPcaModelColumn) throw lacksColumn(table.display, PCA_MODEL_COLUMN);
}

/**
 * `<table>_previous` of a table created by an earlier version may lack embedding_fingerprint:
 * assertPreviousCompatible accepts it (ensureSchema adds the column), but nothing may save rows
 * into it or restore rows from it before then, or the fingerprints would be lost.
 */
export function assertPreviousLoadable(previous: TableShape, table: ResolvedTable): void {
  if (previous.exists && !previous.hasFingerprintColumn) throw lacksColumn(previousTable(table).display, FINGERPRINT_COLUMN);
}

function lacksColumn(display: string, column: string): MigrateError {
  return new MigrateError('E_SCHEMA', `table ${display} lacks column ${column} (created by an earlier version); run ensureSchema first, it adds the column`);
}

/**
 * The DDL files, in order, with their placeholders filled. `shape`, `modelsExist` and
 * `previous` describe the database as it is now (read under the schema locks): the models
 * table's and the previous-rows table's DDL run only when that table is missing, and the ALTERs
 * that add pca_model_id and embedding_fingerprint only when the column is (on each table), and
 * those that make the provenance columns nullable only when one is NOT NULL. The files are idempotent anyway; skipping them
 * avoids their table locks (CREATE INDEX IF NOT EXISTS locks the table before finding the index,
 * and would wait behind a long refit of another table, or a load saving replaced rows).
 */
export function schemaStatements(
  table: ResolvedTable,
  dimensions: number,
  vectorType: VectorType,
  distance: Distance,
  shape: TableShape,
  modelsExist: boolean,
  previous: Pick<TableShape, 'exists' | 'hasFingerprintColumn' | 'provenanceNotNull'>,
  /** False: no HNSW index now (ensureSchema's deferSearchIndex; searchIndex.ts builds it later). */
  searchIndex = true,
  /** TargetSpec.partitions: a table created now is hash-partitioned (tableLayout.ts); an existing one keeps its layout. */
  partitions?: number,
): string[] {
  const models = pcaModelsTable(table);
  const previousName = previousTable(table);
  const values = {
    table: table.quoted,
    vector_type: vectorTypeSql(vectorType),
    dimensions: validateDimensions(dimensions),
    user_collection_index: indexName(table, 'user_collection_idx'),
    hnsw_index: indexName(table, 'embedding_hnsw_idx'),
    ops: opsSql(vectorType, distance),
    pca_models: models.quoted,
    pca_models_active_index: indexName(models, 'one_active_idx'),
    previous: previousName.quoted,
    previous_store_index: indexName(previousName, 'store_idx'),
  };
  const statements = !shape.exists && partitions !== undefined ? partitionedTableStatements(table, partitions, values) : [sqlFile('schema/001_documents.sql', { ...values, ...PLAIN_LAYOUT })];
  // Above the HNSW limit the index cannot be built; the table is still valid and searchable by scan.
  if (searchIndex && dimensions <= MAX_HNSW_DIMENSIONS[vectorType]) statements.push(sqlFile('schema/002_embedding_hnsw.sql', values));
  if (!modelsExist) statements.push(sqlFile('schema/003_pca_models.sql', values));
  if (!shape.hasPcaModelColumn) statements.push(sqlFile('schema/004_documents_pca_model.sql', values));
  // After 004: the previous-rows table mirrors the documents table with pca_model_id.
  if (!previous.exists) statements.push(sqlFile('schema/005_documents_previous.sql', values));
  if (!shape.hasFingerprintColumn) statements.push(sqlFile('schema/006_documents_fingerprint.sql', values));
  // After 005: a previous-rows table it just created gets the column the same way as an old one.
  if (!previous.exists || !previous.hasFingerprintColumn) statements.push(sqlFile('schema/007_documents_previous_fingerprint.sql', values));
  if (shape.provenanceNotNull) statements.push(sqlFile('schema/011_documents_provenance_nullable.sql', values));
  if (previous.provenanceNotNull) statements.push(sqlFile('schema/012_documents_previous_provenance_nullable.sql', values));
  return statements;
}
