/**
 * The SQL side of a table's PCA model (schema/013_pca_projection.sql): `pgvm_project(regclass,
 * vector)` and the pgvector copies of each model's mean and components it reads. Every model is
 * copied in the transaction that saves it, so the function always projects with the model the
 * table's rows were projected with.
 */
import { MigrateError } from '../errors.js';
import { encodeHeader, encodeTrailer } from './copyBinary.js';
import type { DriverTransaction, SqlRunner } from './driver.js';
import { pcaModelsTable, resolveTable, type ResolvedTable, type SqlFragment } from './identifiers.js';
import { recordFromRow, type PcaModelRow } from './pcaModelRows.js';
import { relationExists } from './schema.js';
import { sqlFile } from './sqlFiles.js';
import type { NewPcaModel } from './types.js';

export const PCA_MEANS_TABLE = 'vector_pca_means';
export const PCA_COMPONENTS_TABLE = 'vector_pca_components';
export const PROJECT_FUNCTION = 'pgvm_project';

/** A piece of at most this many values keeps a row inside one 8 KiB heap page (see the schema file). */
const MAX_PIECE_DIMENSIONS = 2000;
/** Components per COPY: 256 x 3072 float32 values are 3 MB, small enough for PGlite's memory. */
const COMPONENTS_PER_COPY = 256;

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

/** `pgvm_project`, as the queries of `table`'s schema call it (relayout_source.sql). */
export function projectFunctionSql(table: ResolvedTable): SqlFragment {
  return objectsOf(table).fn.quoted;
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
export async function ensurePcaProjection(tx: DriverTransaction, table: ResolvedTable): Promise<void> {
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
export async function storeProjection(tx: DriverTransaction, table: ResolvedTable, id: string, model: Pick<NewPcaModel, 'sourceDimensions' | 'targetDimensions' | 'mean' | 'components'>): Promise<void> {
  const objects = objectsOf(table);
  const piece = pieceDimensions(model.sourceDimensions);
  await tx.query(sqlFile('queries/pca_projection_mean_insert.sql', { pca_means: objects.means.quoted }), [id, vectorText(model.mean), piece]);
  const values = { pca_components: objects.components.quoted };
  const copy = { stdin: sqlFile('queries/pca_projection_components_copy_stdin.sql', values), blob: sqlFile('queries/pca_projection_components_copy_blob.sql', values) };
  const pieces = Math.ceil(model.sourceDimensions / piece);
  for (let from = 0; from < model.targetDimensions; from += COMPONENTS_PER_COPY) {
    const to = Math.min(from + COMPONENTS_PER_COPY, model.targetDimensions);
    const copied = await tx.copyPayload(copy, encodeComponents(id, model, piece, from, to));
    if (copied !== (to - from) * pieces) throw new MigrateError('E_LOAD', `copied ${copied} pieces of PCA model ${id}'s components ${from}..${to - 1}, expected ${(to - from) * pieces}`);
  }
}

/**
 * Binary COPY rows (model_id uuid, component int4, piece int4, v vector) for components
 * `from`..`to - 1`, with header and trailer. A vector's binary form is int16 dimensions, int16
 * unused, then big-endian float4 values: the float32 bits travel unchanged.
 */
export function encodeComponents(id: string, model: Pick<NewPcaModel, 'sourceDimensions' | 'components'>, piece: number, from: number, to: number): Buffer {
  const d = model.sourceDimensions;
  const pieces = Math.ceil(d / piece);
  const uuid = Buffer.from(id.replace(/-/g, ''), 'hex');
  const rows = (to - from) * pieces;
  // Per row: field count, then each field's length and bytes; the vectors' values in total.
  const size = rows * (2 + (4 + 16) + (4 + 4) + (4 + 4) + (4 + 4)) + (to - from) * d * 4;
  const header = encodeHeader();
  const trailer = encodeTrailer();
  const out = Buffer.allocUnsafe(header.length + size + trailer.length);
  let at = header.copy(out, 0);
  for (let j = from; j < to; j++) {
    for (let p = 0; p < pieces; p++) {
      const start = p * piece;
      const n = Math.min(piece, d - start);
      at = out.writeInt16BE(4, at);
      at = out.writeInt32BE(16, at);
      at += uuid.copy(out, at);
      at = out.writeInt32BE(4, at);
      at = out.writeInt32BE(j, at);
      at = out.writeInt32BE(4, at);
      at = out.writeInt32BE(p, at);
      at = out.writeInt32BE(4 + 4 * n, at);
      at = out.writeInt16BE(n, at);
      at = out.writeInt16BE(0, at);
      const base = j * d + start;
      for (let i = 0; i < n; i++) at = out.writeFloatBE(model.components[base + i] as number, at);
    }
  }
  at += trailer.copy(out, at);
  if (at !== out.length) throw new MigrateError('E_INTERNAL', `encoded ${at} bytes of PCA components, expected ${out.length}`);
  return out;
}

/** float32 values as pgvector text: nine significant digits identify every float32 (strtof reads them back). */
function vectorText(values: Float32Array): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = (values[i] as number).toPrecision(9);
  return `[${parts.join(',')}]`;
}
