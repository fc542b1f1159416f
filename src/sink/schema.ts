/** Reads the target table's shape from the catalogs and decides whether rows can go into it. */
import { MigrateError } from '../errors.js';
import type { SqlRunner } from './driver.js';
import { indexName, validateDimensions, type ResolvedTable } from './identifiers.js';
import { sqlFile } from './sqlFiles.js';

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

/** pgvector's HNSW index refuses `vector` columns with more dimensions than this. */
export const MAX_HNSW_DIMENSIONS = 2000;

export interface TableShape {
  exists: boolean;
  /** Dimension of `embedding` when it is a vector(n) column; null otherwise. */
  dimensions: number | null;
  /** `format_type` of `embedding`, e.g. `vector(384)`; null if the column is missing. */
  embeddingType: string | null;
  missingColumns: string[];
}

interface ColumnRow extends Record<string, unknown> {
  name: string;
  type_name: string;
  typmod: number;
  formatted_type: string;
}

export async function readTableShape(db: SqlRunner, table: ResolvedTable): Promise<TableShape> {
  const { rows } = await db.query<ColumnRow>(sqlFile('queries/table_columns.sql'), [table.regclassText]);
  if (rows.length === 0) return { exists: false, dimensions: null, embeddingType: null, missingColumns: [...REQUIRED_COLUMNS] };
  const names = new Set(rows.map((r) => r.name));
  const embedding = rows.find((r) => r.name === 'embedding');
  const isVector = embedding !== undefined && embedding.type_name === 'vector' && Number(embedding.typmod) > 0;
  return {
    exists: true,
    dimensions: isVector ? Number(embedding.typmod) : null,
    embeddingType: embedding?.formatted_type ?? null,
    missingColumns: REQUIRED_COLUMNS.filter((c) => !names.has(c)),
  };
}

/**
 * Throws unless rows of `dimensions` can go into the (existing) table: E_SCHEMA for a table that
 * lacks columns or whose embedding is not a vector(n), E_DIM_MISMATCH naming both dimensions.
 */
export function assertCompatible(shape: TableShape, table: ResolvedTable, dimensions: number): void {
  if (!shape.exists) return;
  if (shape.missingColumns.length > 0) {
    throw new MigrateError(
      'E_SCHEMA',
      `table ${table.display} exists but lacks column(s) ${shape.missingColumns.join(', ')}; use another --table or add them`,
    );
  }
  if (shape.dimensions === null) {
    throw new MigrateError(
      'E_SCHEMA',
      `table ${table.display} has embedding of type ${shape.embeddingType ?? 'unknown'}; expected vector(${dimensions})`,
    );
  }
  if (shape.dimensions !== dimensions) {
    throw new MigrateError(
      'E_DIM_MISMATCH',
      `table ${table.display} holds ${shape.dimensions}-dimension vectors but the rows have ${dimensions}; use another table or the model it was built with`,
    );
  }
}

/** The DDL files, in order, with their placeholders filled. */
export function schemaStatements(table: ResolvedTable, dimensions: number): string[] {
  const values = {
    table: table.quoted,
    dimensions: validateDimensions(dimensions),
    user_collection_index: indexName(table, 'user_collection_idx'),
    hnsw_index: indexName(table, 'embedding_hnsw_idx'),
  };
  const statements = [sqlFile('schema/001_documents.sql', values)];
  // Above the HNSW limit the index cannot be built; the table is still valid and searchable by scan.
  if (dimensions <= MAX_HNSW_DIMENSIONS) statements.push(sqlFile('schema/002_embedding_hnsw.sql', values));
  return statements;
}
