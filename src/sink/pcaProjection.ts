/**
 * The SQL side of a table's PCA model (schema/013_pca_projection.sql): `pgvm_project(regclass,
 * vector)` and the pgvector copies of each model's mean and components it reads. Every model is
 * copied in the transaction that saves it, so the function always projects with the model the
 * table's rows were projected with.
 */
import type { SqlRunner } from './driver.js';
import { pcaModelsTable, resolveTable, type ResolvedTable } from './identifiers.js';
import { recordFromRow, type PcaModelRow } from './pcaModels.js';
import { relationExists } from './schema.js';
import { sqlFile } from './sqlFiles.js';
import type { NewPcaModel } from './types.js';

export const PCA_MEANS_TABLE = 'vector_pca_means';
export const PCA_COMPONENTS_TABLE = 'vector_pca_components';
export const PROJECT_FUNCTION = 'pgvm_project';

/** A piece of at most this many values keeps a row inside one 8 KiB heap page (see the schema file). */
const MAX_PIECE_DIMENSIONS = 2000;
/** Components sent per INSERT: a few MB of text, small enough for PGlite's memory. */
const COMPONENTS_PER_STATEMENT = 64;

interface ProjectionObjects {
  models: ResolvedTable;
  means: ResolvedTable;
  components: ResolvedTable;
  fn: ResolvedTable;
}

/** The objects live next to the models table: same schema, or the search_path's when unqualified. */
function objectsOf(table: ResolvedTable): ProjectionObjects {
  const models = pcaModelsTable(table);
  const sibling = (name: string): ResolvedTable => resolveTable(models.schema === null ? name : `${models.schema}.${name}`);
  return { models, means: sibling(PCA_MEANS_TABLE), components: sibling(PCA_COMPONENTS_TABLE), fn: sibling(PROJECT_FUNCTION) };
}

/** Even pieces of at most MAX_PIECE_DIMENSIONS values: 3072 -> 2 x 1536 rather than 2000 + 1072. */
export function pieceDimensions(sourceDimensions: number): number {
  return Math.ceil(sourceDimensions / Math.ceil(sourceDimensions / MAX_PIECE_DIMENSIONS));
}

/**
 * Creates the function and its tables when missing (the models table must exist), under the
 * same lock as ensureSchema's creation of the models table.
 */
export async function ensureProjectionTables(tx: SqlRunner, table: ResolvedTable): Promise<void> {
  const objects = objectsOf(table);
  if (await relationExists(tx, objects.components)) return;
  await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate schema ${objects.models.regclassText}`]);
  if (await relationExists(tx, objects.components)) return;
  await tx.exec(sqlFile('schema/013_pca_projection.sql', { pca_models: objects.models.quoted, pca_means: objects.means.quoted, pca_components: objects.components.quoted, pgvm_project: objects.fn.quoted }));
}

/** ensureProjectionTables, then a copy of the table's active model if it predates them. */
export async function ensurePcaProjection(tx: SqlRunner, table: ResolvedTable): Promise<void> {
  await ensureProjectionTables(tx, table);
  const objects = objectsOf(table);
  const { rows } = await tx.query<{ id: string }>(sqlFile('queries/pca_projection_missing.sql', { pca_models: objects.models.quoted, pca_means: objects.means.quoted }), [table.name]);
  const missing = rows[0];
  if (missing === undefined) return;
  const found = await tx.query<PcaModelRow>(sqlFile('queries/pca_model_by_id.sql', { pca_models: objects.models.quoted }), [table.name, missing.id]);
  const row = found.rows[0];
  if (row !== undefined) await storeProjection(tx, table, missing.id, recordFromRow(row, table.display));
}

/** Copies a model just inserted into vector_pca_models (id `id`) for pgvm_project. */
export async function storeProjection(tx: SqlRunner, table: ResolvedTable, id: string, model: Pick<NewPcaModel, 'sourceDimensions' | 'targetDimensions' | 'mean' | 'components'>): Promise<void> {
  const objects = objectsOf(table);
  const d = model.sourceDimensions;
  const piece = pieceDimensions(d);
  const pieces = Math.ceil(d / piece);
  await tx.query(sqlFile('queries/pca_projection_mean_insert.sql', { pca_means: objects.means.quoted }), [id, vectorText(model.mean), piece]);
  const insert = sqlFile('queries/pca_projection_components_insert.sql', { pca_components: objects.components.quoted });
  for (let from = 0; from < model.targetDimensions; from += COMPONENTS_PER_STATEMENT) {
    const componentNumbers: number[] = [];
    const pieceNumbers: number[] = [];
    const values: string[] = [];
    for (let j = from; j < Math.min(from + COMPONENTS_PER_STATEMENT, model.targetDimensions); j++) {
      for (let p = 0; p < pieces; p++) {
        const start = j * d + p * piece;
        componentNumbers.push(j);
        pieceNumbers.push(p);
        values.push(vectorText(model.components.subarray(start, Math.min(start + piece, (j + 1) * d))));
      }
    }
    await tx.query(insert, [id, componentNumbers, pieceNumbers, values]);
  }
}

/**
 * float32 values as pgvector text. Nine significant digits identify every float32 (pgvector reads
 * them with strtof), and writing them is three times faster than JavaScript's shortest form of
 * the value as a double (17 digits), which matters for 6 million values.
 */
function vectorText(values: Float32Array): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = (values[i] as number).toPrecision(9);
  return `[${parts.join(',')}]`;
}
