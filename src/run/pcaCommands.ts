import { readFile, rename, writeFile } from 'node:fs/promises';
import type { DatabaseConfig } from '../config.js';
import { MigrateError } from '../errors.js';
import type { PcaModelRecord } from '../sink/types.js';
import { parsePcaModel, serializePcaModel } from '../transform/pca/index.js';
import { fromPcaModelRecord, modelToRecord } from './pcaModelRecord.js';
import { withSink } from './resources.js';

export interface PcaFileConfig {
  database: DatabaseConfig;
  table: string;
  file: string;
}

/** Writes the table's active PCA model to a file (format: src/transform/pca/FORMAT.md). */
export function exportPca(config: PcaFileConfig): Promise<PcaModelRecord> {
  return withSink(config.database, { readOnly: true, purpose: 'pca export' }, async (sink) => {
    const record = await sink.pcaModels.active({ table: config.table });
    if (record === null) throw new MigrateError('E_USAGE', `table ${config.table} has no PCA model to export`);
    // Write then rename, so an interrupted export never leaves a truncated model file behind.
    await writeFile(`${config.file}.tmp`, serializePcaModel(fromPcaModelRecord(record)));
    await rename(`${config.file}.tmp`, config.file);
    return record;
  });
}

/**
 * Makes a model from a file the table's active model, so rows loaded into this database land in
 * the same space as the database the model came from. Refused when the table already holds rows
 * projected by another model: that would mix two spaces (use migrate --refit-pca instead).
 */
export async function importPca(config: PcaFileConfig): Promise<PcaModelRecord> {
  const model = parsePcaModel(await readFile(config.file));
  return withSink(config.database, { readOnly: false, purpose: 'pca import' }, async (sink) => {
    const active = await sink.pcaModels.active({ table: config.table });
    const stores = await sink.reads.listStoreKeys({ table: config.table, dimensions: model.targetDimensions });
    if (active !== null && stores.length > 0) {
      throw new MigrateError('E_USAGE', `table ${config.table} holds rows projected by PCA model ${active.id}; importing another model would mix two spaces (re-run migrate with --refit-pca, or import into another --table)`);
    }
    const target = { table: config.table, dimensions: model.targetDimensions, vectorType: 'vector' as const, distance: 'l2' as const };
    const info = await sink.schema.inspect(target);
    if (info.tableExists && (info.tableDimensions !== model.targetDimensions || (info.tableVectorType ?? 'vector') !== 'vector')) {
      throw new MigrateError('E_DIM_MISMATCH', `table ${config.table} holds ${info.tableVectorType ?? 'vector'}(${info.tableDimensions}); the model projects to vector(${model.targetDimensions})`);
    }
    await sink.schema.ensureSchema(target);
    // The file carries no evaluation vectors: the imported model's recall cannot be recomputed here.
    return sink.pcaModels.save(modelToRecord(config.table, model, { importedFrom: config.file }, []));
  });
}
