/** Reads the target table's shape from the catalogs and decides whether rows can go into it. */
import { MigrateError } from '../errors.js';
import type { SqlRunner } from './driver.js';
import { indexName, opsSql, pcaModelsTable, validateDimensions, vectorTypeSql, type ResolvedTable } from './identifiers.js';
import { sqlFile } from './sqlFiles.js';
import type { VectorType, Distance } from './types.js';

/** Columns the sink writes or reads; a table lacking any of them cannot be loaded. */
export const REQUIRED_COLUMNS = [
  'id',
  'user_id',
  'collection_name',
  'text',
  'embedding',
  'metadata',
  'created_at',
  'updated_at',
  'content_sha256',
  'embedding_model',
  'source_index',
] as const;

/**
 * Written by every load, but not required of an existing table: ensureSchema adds it to tables
 * created before it existed (schema/004_documents_pca_model.sql).
 */
export const PCA_MODEL_COLUMN = 'pca_model_id';

/** pgvector's HNSW index refuses columns with more dimensions than this, per type. */
export const MAX_HNSW_DIMENSIONS: Readonly<Record<VectorType, number>> = { vector: 2000, halfvec: 4000 };

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
}

interface ColumnRow extends Record<string, unknown> {
  name: string;
  type_name: string;
  typmod: number;
  formatted_type: string;
}

export async function readTableShape(db: SqlRunner, table: ResolvedTable): Promise<TableShape> {
  const { rows } = await db.query<ColumnRow>(sqlFile('queries/table_columns.sql'), [table.regclassText]);
  if (rows.length === 0) {
    return { exists: false, dimensions: null, vectorType: null, embeddingType: null, missingColumns: [...REQUIRED_COLUMNS], hasPcaModelColumn: false };
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
  };
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

/** Rows are written with pca_model_id: a table still without it must go through ensureSchema. */
export function assertLoadable(shape: TableShape, table: ResolvedTable): void {
  if (shape.exists && !shape.hasPcaModelColumn) {
    throw new MigrateError('E_SCHEMA', `table ${table.display} lacks column ${PCA_MODEL_COLUMN} (created by an earlier version); run ensureSchema first, it adds the column`);
  }
}

/**
 * The DDL files, in order, with their placeholders filled. `shape` and `modelsExist` describe the
 * database as it is now (read under the schema locks): the models table's DDL runs only when that
 * table is missing, and the ALTER that adds pca_model_id only when the column is. Both files are
 * idempotent anyway; skipping them avoids their table locks (CREATE INDEX IF NOT EXISTS locks the
 * models table before finding the index, and would wait behind a long refit of another table).
 */
export function schemaStatements(table: ResolvedTable, dimensions: number, vectorType: VectorType, distance: Distance, shape: TableShape, modelsExist: boolean): string[] {
  const models = pcaModelsTable(table);
  const values = {
    table: table.quoted,
    vector_type: vectorTypeSql(vectorType),
    dimensions: validateDimensions(dimensions),
    user_collection_index: indexName(table, 'user_collection_idx'),
    hnsw_index: indexName(table, 'embedding_hnsw_idx'),
    ops: opsSql(vectorType, distance),
    pca_models: models.quoted,
    pca_models_active_index: indexName(models, 'one_active_idx'),
  };
  const statements = [sqlFile('schema/001_documents.sql', values)];
  // Above the HNSW limit the index cannot be built; the table is still valid and searchable by scan.
  if (dimensions <= MAX_HNSW_DIMENSIONS[vectorType]) statements.push(sqlFile('schema/002_embedding_hnsw.sql', values));
  if (!modelsExist) statements.push(sqlFile('schema/003_pca_models.sql', values));
  if (!shape.hasPcaModelColumn) statements.push(sqlFile('schema/004_documents_pca_model.sql', values));
  return statements;
}
