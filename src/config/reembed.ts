import path from 'node:path';
import { MigrateError } from '../errors.js';
import type { QueuePolicy } from '../queue/engine.js';
import { databaseConfig, type DatabaseConfig } from './database.js';
import { DEFAULTS } from './defaults.js';
import type { Environment } from './environment.js';
import { list, nonEmpty, positiveInt } from './flagValues.js';
import { modelConfig, type ModelConfig, type ModelDatabaseFlags } from './model.js';
import { queuePolicy, type EnqueueFlags } from './queue.js';
import { reductionConfig, type ReductionConfig } from './reduction.js';

/** What `reembed` does: fill (and by default swap in) the side table, remove it, or undo a swap. */
export type ReembedAction = 'run' | 'abort' | 'swap-back' | 'enqueue' | 'swap';

export interface ReembedConfig {
  action: ReembedAction;
  database: DatabaseConfig;
  model: ModelConfig;
  table: string;
  /** Only these users' rows this time (a job spread over several invocations); the swap waits for all. */
  users: string[] | null;
  batchSize: number;
  reduction: Omit<ReductionConfig, 'refit'>;
  /** False (--no-swap): fill, index and verify the side table, leave the swap to a later run. */
  swap: boolean;
  noWait: boolean;
  reportPath: string | null;
  /** Set by a queue worker, never from flags: work only on this job, never start a new one. */
  requireJob?: string;
  /** --enqueue: retries and expiry of the page jobs. */
  queue: QueuePolicy;
  /** --enqueue: rows per page job (null: one sort window, rows.ts windowSize). */
  pageRows: number | null;
}

export interface ReembedFlags extends ModelDatabaseFlags, EnqueueFlags {
  pageRows?: string;
  users?: string;
  batchSize?: string;
  reduce?: string;
  dimensions?: string;
  pcaSample?: string;
  abort?: boolean;
  swapBack?: boolean;
  /** commander's --no-swap */
  swap?: boolean;
  /** commander's --no-wait */
  wait?: boolean;
  report?: string;
}

export function buildReembedConfig(flags: ReembedFlags, env: Environment, cwd: string): ReembedConfig {
  const steps = [flags.abort === true && '--abort', flags.swapBack === true && '--swap-back', flags.enqueue === true && '--enqueue', flags.swap === true && '--swap'].filter((f) => f !== false);
  if (steps.length > 1) throw new MigrateError('E_USAGE', `${steps.join(' and ')} are separate steps; give one of them`);
  const action: ReembedAction = flags.abort === true ? 'abort' : flags.swapBack === true ? 'swap-back' : flags.enqueue === true ? 'enqueue' : flags.swap === true ? 'swap' : 'run';
  // Re-embedding a whole table with the default model by accident would cost hours: say which.
  if ((action === 'run' || action === 'enqueue' || action === 'swap') && nonEmpty(flags.model) === undefined && nonEmpty(env.PGVECTOR_MIGRATE_MODEL) === undefined) {
    throw new MigrateError('E_USAGE', 'reembed needs the new model: --model <hub id or directory> (or $PGVECTOR_MIGRATE_MODEL)');
  }
  return {
    action,
    database: databaseConfig(flags, env, cwd),
    model: modelConfig(flags, env, cwd),
    table: flags.table ?? DEFAULTS.table,
    users: list(flags.users, '--users'),
    batchSize: positiveInt(flags.batchSize, '--batch-size', DEFAULTS.batchSize, 4096),
    reduction: reductionConfig(flags),
    swap: flags.swap !== false,
    noWait: flags.wait === false,
    reportPath: flags.report === undefined ? null : path.resolve(cwd, flags.report),
    queue: queuePolicy(flags),
    pageRows: flags.pageRows === undefined ? null : positiveInt(flags.pageRows, '--page-rows', 0, 1_000_000),
  };
}
