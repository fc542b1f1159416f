import type { DatabaseConfig, ModelConfig } from '../config.js';
import { openSink } from '../sink/index.js';
import type { Sink } from '../sink/types.js';
import { createEmbedder, type Embedder } from '../transform/embedder.js';

/**
 * Opens the database first (a wrong URL should fail before seconds of model loading), then the
 * model, runs `fn`, and closes both whatever happens.
 */
export async function withSinkAndEmbedder<T>(
  database: DatabaseConfig,
  model: ModelConfig,
  options: { readOnly: boolean },
  fn: (sink: Sink, embedder: Embedder) => Promise<T>,
): Promise<T> {
  const sink = await openSink({ databaseUrl: database.url?.reveal(), pgliteDir: database.pgliteDir, readOnly: options.readOnly });
  try {
    const embedder = await createEmbedder({
      model: model.id,
      allowRemoteModels: model.allowRemoteModels,
      ...(model.cacheDir === null ? {} : { cacheDir: model.cacheDir }),
    });
    try {
      return await fn(sink, embedder);
    } finally {
      await embedder.dispose();
    }
  } finally {
    await sink.close();
  }
}
