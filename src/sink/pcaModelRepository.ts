/** The PCA models of a schema's documents tables (`vector_pca_models`, sql/schema/003, 013). */
import { randomUUID } from 'node:crypto';
import { MigrateError } from '../errors.js';
import type { SinkAccess } from './access.js';
import type { DriverTransaction, SqlRunner } from './driver.js';
import { pcaModelsTable, resolveTable } from './identifiers.js';
import { checkNewModel, insertParams, isUuid, recordFromRow, type PcaModelRow } from './pcaModelRows.js';
import { ensureProjectionTables, storeProjection } from './pcaProjection.js';
import { readTableShape, relationExists } from './schema.js';
import { sqlFile } from './sqlFiles.js';
import type { NewPcaModel, PcaModelRecord, TableRef } from './types.js';

export interface PcaModelRepository {
  /** The table's active model; null if none or no models table yet. Reads only. */
  active(target: TableRef): Promise<PcaModelRecord | null>;
  /** One of the table's models by id, active or not (null if unknown), e.g. the one a row names. */
  byId(target: TableRef | string, id: string): Promise<PcaModelRecord | null>;
  /** Saves `model` as the table's active model (the previous one stays, inactive); generates the id. Needs ensureSchema. */
  save(model: NewPcaModel): Promise<PcaModelRecord>;
}

/** Over the sink's connection; `save` in a transaction of its own. */
export function pcaModelRepository(access: SinkAccess): PcaModelRepository {
  const { db, guard } = access;
  return {
    async active(target) {
      const table = resolveTable(target.table);
      const models = pcaModelsTable(table);
      return access.readIfExists(models, null, `reading the PCA model of ${table.display}`, async () => {
        const { rows } = await db.query<PcaModelRow>(sqlFile('queries/pca_model_active.sql', { pca_models: models.quoted }), [table.name]);
        const row = rows[0];
        return row === undefined ? null : recordFromRow(row, target.table);
      });
    },
    async byId(target, id) {
      const name = typeof target === 'string' ? target : target.table;
      const table = resolveTable(name);
      const models = pcaModelsTable(table);
      if (!isUuid(id)) throw new MigrateError('E_USAGE', `PCA model id ${JSON.stringify(id)} is not a UUID`);
      return access.readIfExists(models, null, `reading PCA model ${id} of ${table.display}`, async () => {
        const { rows } = await db.query<PcaModelRow>(sqlFile('queries/pca_model_by_id.sql', { pca_models: models.quoted }), [table.name, id]);
        const row = rows[0];
        return row === undefined ? null : recordFromRow(row, name);
      });
    },
    async save(model) {
      access.writable('save a PCA model');
      return guard('E_LOAD', `saving the PCA model of ${model.table}`, () => db.transaction((tx) => insertModel(tx, model)));
    },
  };
}

/** The id of the table's active model, or null (no model, or no models table). */
export async function activeModelId(db: SqlRunner, target: TableRef): Promise<string | null> {
  const table = resolveTable(target.table);
  const models = pcaModelsTable(table);
  if (!(await relationExists(db, models))) return null;
  const { rows } = await db.query<{ id: string }>(sqlFile('queries/pca_model_active_id.sql', { pca_models: models.quoted }), [table.name]);
  return rows[0]?.id ?? null;
}

/** Retires the table's active model and inserts `model` as active, inside the caller's transaction. */
export async function insertModel(tx: DriverTransaction, model: NewPcaModel): Promise<PcaModelRecord> {
  const table = resolveTable(model.table);
  const models = pcaModelsTable(table);
  checkNewModel(model);
  // Two fits of one table saving at once: the second waits, then retires the first's model.
  await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate pca ${models.regclassText} ${table.name}`]);
  if (!(await relationExists(tx, models))) {
    throw new MigrateError('E_SCHEMA', `the PCA models table ${models.display} does not exist; create the schema of ${table.display} first (ensureSchema)`);
  }
  const shape = await readTableShape(tx, table);
  if (shape.dimensions !== null && shape.dimensions !== model.targetDimensions) {
    throw new MigrateError('E_DIM_MISMATCH', `the PCA model projects to ${model.targetDimensions} dimensions but table ${table.display} holds ${shape.vectorType ?? 'vector'}(${shape.dimensions})`);
  }
  const id = randomUUID();
  await tx.query(sqlFile('queries/pca_model_deactivate.sql', { pca_models: models.quoted }), [table.name]);
  const { rows } = await tx.query<{ created_at: unknown }>(sqlFile('queries/pca_model_insert.sql', { pca_models: models.quoted }), insertParams(id, table.name, model));
  // pgvm_project's copy of the model, so SQL clients project with the active model too.
  await ensureProjectionTables(tx, table);
  await storeProjection(tx, table, id, model);
  const createdAt = rows[0]?.created_at;
  return { ...model, id, createdAt: createdAt instanceof Date ? createdAt.toISOString() : String(createdAt) };
}
