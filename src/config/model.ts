import path from 'node:path';
import { DEFAULTS, DTYPES, type EmbeddingDtype } from './defaults.js';
import type { Environment } from './environment.js';
import { nonEmpty, oneOf } from './flagValues.js';

export interface ModelConfig {
  /** A hub id such as Xenova/all-MiniLM-L6-v2, or a local directory. */
  id: string;
  cacheDir: string | null;
  allowRemoteModels: boolean;
  /**
   * Set when neither --model nor $PGVECTOR_MIGRATE_MODEL named one (`id` is DEFAULTS.model):
   * commands that read a table (query, verify) then use the model its rows record instead.
   */
  fromDefault?: true;
  /**
   * --dtype or $PGVECTOR_MIGRATE_DTYPE; absent when neither names one: the model embeds with
   * DEFAULTS.dtype, and query and verify use the dtype the rows record.
   */
  dtype?: EmbeddingDtype;
}

/** The options every command that opens the database and the model shares. */
export interface ModelDatabaseFlags {
  databaseUrl?: string;
  pgliteDir?: string;
  model?: string;
  modelCache?: string;
  offline?: boolean;
  dtype?: string;
  table?: string;
}

export function modelConfig(flags: { model?: string; modelCache?: string; offline?: boolean; dtype?: string }, env: Environment, cwd: string): ModelConfig {
  const cache = nonEmpty(flags.modelCache) ?? nonEmpty(env.PGVECTOR_MIGRATE_MODEL_CACHE);
  const named = nonEmpty(flags.model) ?? nonEmpty(env.PGVECTOR_MIGRATE_MODEL);
  const dtype = nonEmpty(flags.dtype) ?? nonEmpty(env.PGVECTOR_MIGRATE_DTYPE);
  return {
    id: named ?? DEFAULTS.model,
    cacheDir: cache === undefined ? null : path.resolve(cwd, cache),
    allowRemoteModels: flags.offline !== true,
    ...(named === undefined ? { fromDefault: true as const } : {}),
    ...(dtype === undefined ? {} : { dtype: oneOf(dtype, '--dtype', DTYPES, DEFAULTS.dtype) }),
  };
}
