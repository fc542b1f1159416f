import { DEFAULTS, type DatabaseConfig, type ModelConfig } from '../config.js';
import { openSink } from '../sink/index.js';
import type { Sink } from '../sink/types.js';
import { createEmbedder, type Embedder } from '../transform/embedder.js';
import { openTableReader, type TableReaderOptions } from '../sink/tableSource.js';
import type { TableReader, TableSourceConfig } from '../source/tableTypes.js';

/**
 * Opens the database, runs `fn`, and closes it whatever happens. `purpose` (the command) is what
 * a second process finds in the PGlite directory's lock.
 */
export async function withSink<T>(database: DatabaseConfig, options: { readOnly: boolean; purpose: string }, fn: (sink: Sink) => Promise<T>): Promise<T> {
  const sink = await openSink({
    databaseUrl: database.url?.reveal(),
    pool: database.pool,
    pgliteDir: database.pgliteDir,
    readOnly: options.readOnly,
    purpose: options.purpose,
    wait: database.waitForLock,
    onLockWait: database.onLockWait,
  });
  try {
    return await fn(sink);
  } finally {
    await sink.close();
  }
}

/** Loads the embedding model once, runs `fn`, and releases it whatever happens. */
export async function withEmbedder<T>(model: ModelConfig, fn: (embedder: Embedder) => Promise<T>): Promise<T> {
  const embedder = await createEmbedder({
    model: model.id,
    allowRemoteModels: model.allowRemoteModels,
    dtype: model.dtype ?? DEFAULTS.dtype,
    ...(model.cacheDir === null ? {} : { cacheDir: model.cacheDir }),
  });
  try {
    return await fn(embedder);
  } finally {
    await embedder.dispose();
  }
}

/**
 * Opens the source table of a --from-table run (read-only; the mapping checked against its
 * catalog), runs `fn`, and closes it; without a table source `fn` gets null.
 */
export async function withTableReader<T>(source: TableSourceConfig | null, options: TableReaderOptions, fn: (reader: TableReader | null) => Promise<T>): Promise<T> {
  if (source === null) return fn(null);
  const reader = await openTableReader(source, options);
  try {
    return await fn(reader);
  } finally {
    await reader.close();
  }
}
