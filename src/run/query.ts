import type { QueryConfig } from '../config.js';
import { MigrateError } from '../errors.js';
import type { SearchHit } from '../sink/types.js';
import { withSinkAndEmbedder } from './resources.js';

/** Embeds the query with the model and returns one user's top-k rows. Reads only. */
export function runQuery(config: QueryConfig): Promise<SearchHit[]> {
  return withSinkAndEmbedder(config.database, config.model, { readOnly: true }, async (sink, embedder) => {
    const target = { table: config.table, dimensions: embedder.dimensions };
    const info = await sink.inspect(target);
    if (!info.tableExists) throw new MigrateError('E_USAGE', `table ${config.table} does not exist in ${info.location}; run migrate first`);
    if (info.tableDimensions !== embedder.dimensions) {
      throw new MigrateError(
        'E_DIM_MISMATCH',
        `table ${config.table} holds ${info.tableDimensions}-dimension vectors but model ${embedder.modelId} produces ${embedder.dimensions}; query with the model used to migrate`,
      );
    }
    const [embedding] = await embedder.embed([config.text]);
    if (embedding === undefined) throw new MigrateError('E_EMBED', 'the model returned no vector for the query');
    const collection = config.collection === null ? {} : { collection: config.collection };
    return sink.search(target, { userId: config.userId, ...collection, embedding, k: config.k });
  });
}
