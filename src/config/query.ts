import path from 'node:path';
import { MigrateError } from '../errors.js';
import { databaseConfig, type DatabaseConfig } from './database.js';
import { DEFAULTS } from './defaults.js';
import type { Environment } from './environment.js';
import { nonEmpty, positiveInt } from './flagValues.js';
import { modelConfig, type ModelConfig, type ModelDatabaseFlags } from './model.js';

export interface QueryConfig {
  database: DatabaseConfig;
  model: ModelConfig;
  table: string;
  userId: string;
  collection: string | null;
  k: number;
  /** The query text, or null when the query vector comes from embeddingFile. */
  text: string | null;
  embeddingFile: string | null;
}

export interface QueryFlags extends ModelDatabaseFlags {
  user: string;
  collection?: string;
  k?: string;
  /** A JSON file (or - for stdin) holding the query vector, for tables whose model cannot run here (keep mode). */
  embeddingFile?: string;
}

export function buildQueryConfig(text: string | undefined, flags: QueryFlags, env: Environment, cwd: string): QueryConfig {
  const embeddingFile = nonEmpty(flags.embeddingFile) ?? null;
  if (embeddingFile === null && (text === undefined || text.trim() === '')) throw new MigrateError('E_USAGE', 'give the query text, or --embedding-file with the query vector');
  if (embeddingFile !== null && text !== undefined) throw new MigrateError('E_USAGE', 'give either the query text or --embedding-file, not both');
  if (flags.user.trim() === '') throw new MigrateError('E_USAGE', '--user is required');
  return {
    database: databaseConfig(flags, env, cwd),
    model: modelConfig(flags, env, cwd),
    table: flags.table ?? DEFAULTS.table,
    userId: flags.user,
    collection: nonEmpty(flags.collection) ?? null,
    k: positiveInt(flags.k, '-k', 5, 1000),
    text: text ?? null,
    embeddingFile: embeddingFile === null || embeddingFile === '-' ? embeddingFile : path.resolve(cwd, embeddingFile),
  };
}
