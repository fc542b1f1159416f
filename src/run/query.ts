import type { QueryConfig } from '../config.js';
import { MigrateError } from '../errors.js';
import { openSink } from '../sink/index.js';
import type { SearchHit } from '../sink/types.js';
import { createEmbedder } from '../transform/embedder.js';

/** Embeds the query with the model and returns one user's top-k rows. Reads only. */
export async function runQuery(config: QueryConfig): Promise<SearchHit[]> {
  const sink = await openSink({ databaseUrl: config.database.url?.reveal(), pgliteDir: config.database.pgliteDir, readOnly: true });
  try {
    const embedder = await createEmbedder({
      model: config.model.id,
      allowRemoteModels: config.model.allowRemoteModels,
      ...(config.model.cacheDir === null ? {} : { cacheDir: config.model.cacheDir }),
    });
    try {
      const target = { table: config.table, dimensions: embedder.dimensions };
      const info = await sink.inspect(target);
      if (!info.tableExists) throw new MigrateError('E_USAGE', `table ${config.table} does not exist in ${info.location}; run migrate first`);
      if (info.tableDimensions !== embedder.dimensions) {
        throw new MigrateError('E_DIM_MISMATCH', `table ${config.table} holds ${info.tableDimensions}-dimension vectors but model ${embedder.modelId} produces ${embedder.dimensions}; query with the model used to migrate`);
      }
      const [embedding] = await embedder.embed([config.text]);
      if (embedding === undefined) throw new MigrateError('E_EMBED', 'the model returned no vector for the query');
      return await sink.search(target, { userId: config.userId, ...(config.collection === null ? {} : { collection: config.collection }), embedding, k: config.k });
    } finally {
      await embedder.dispose();
    }
  } finally {
    await sink.close();
  }
}
