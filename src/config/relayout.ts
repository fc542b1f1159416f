import path from 'node:path';
import { MigrateError } from '../errors.js';
import { databaseConfig, type DatabaseConfig } from './database.js';
import { DEFAULTS } from './defaults.js';
import type { Environment } from './environment.js';
import { oneOf, positiveInt } from './flagValues.js';

/** What `relayout` does: copy (and by default swap in), only plan (--dry-run), remove the side table, or undo a swap. */
export type RelayoutAction = 'run' | 'dry-run' | 'abort' | 'swap-back';

/** The layout asked for; null fields are kept as the table has them. */
export interface RelayoutRequest {
  /** A hash-partition count, 'none' (--no-partitions: one plain table), or null (keep). */
  partitions: number | 'none' | null;
  vectorType: 'vector' | 'halfvec' | null;
  dimensions: number | null;
  /** How --dimensions shrinks the vectors: their first numbers, or a PCA fitted on a sample of them. */
  reduce: 'truncate' | 'pca' | null;
  /** --pca-sample: stored vectors the PCA model is fitted on (seed DEFAULTS.pcaSeed). */
  pcaSample: number;
}

export interface RelayoutConfig {
  action: RelayoutAction;
  database: DatabaseConfig;
  table: string;
  request: RelayoutRequest;
  /** False (--no-swap): fill, index and verify the side table, leave the swap to a later run. */
  swap: boolean;
  noWait: boolean;
  /** Rows copied per transaction. */
  pageRows: number;
  reportPath: string | null;
}

export interface RelayoutFlags {
  databaseUrl?: string;
  pgliteDir?: string;
  table?: string;
  /** commander: '--partitions <n>' gives the string, '--no-partitions' false. */
  partitions?: string | boolean;
  vectorType?: string;
  dimensions?: string;
  reduce?: string;
  pcaSample?: string;
  dryRun?: boolean;
  abort?: boolean;
  swapBack?: boolean;
  /** commander's --swap / --no-swap (undefined when neither was given). */
  swap?: boolean;
  /** commander's --no-wait (and --wait for the PGlite directory). */
  wait?: boolean;
  pageRows?: string;
  report?: string;
}

/** Rows per transaction of the copy: large enough to amortize a commit, small enough to keep locks and WAL short. */
export const DEFAULT_RELAYOUT_PAGE_ROWS = 5000;

export function buildRelayoutConfig(flags: RelayoutFlags, env: Environment, cwd: string): RelayoutConfig {
  const steps = [flags.dryRun === true && '--dry-run', flags.abort === true && '--abort', flags.swapBack === true && '--swap-back'].filter((f) => f !== false);
  if (steps.length > 1) throw new MigrateError('E_USAGE', `${steps.join(' and ')} are separate steps; give one of them`);
  const action: RelayoutAction = flags.dryRun === true ? 'dry-run' : flags.abort === true ? 'abort' : flags.swapBack === true ? 'swap-back' : 'run';
  const request = requestOf(flags);
  const changes = request.partitions !== null || request.vectorType !== null || request.dimensions !== null;
  // --swap alone finishes the table's running re-layout with the layout it recorded.
  if (action === 'run' && !changes && flags.swap !== true) {
    throw new MigrateError('E_USAGE', 'relayout needs a layout change: --partitions <n>, --no-partitions, --vector-type halfvec|vector or --dimensions <n> (or --swap to finish a re-layout started with --no-swap)');
  }
  if (action === 'dry-run' && !changes) throw new MigrateError('E_USAGE', 'relayout --dry-run needs the layout change to plan: --partitions <n>, --no-partitions, --vector-type or --dimensions');
  return {
    action,
    database: databaseConfig(flags, env, cwd),
    table: flags.table ?? DEFAULTS.table,
    request,
    swap: flags.swap !== false,
    noWait: flags.wait === false,
    pageRows: positiveInt(flags.pageRows, '--page-rows', DEFAULT_RELAYOUT_PAGE_ROWS, 1_000_000),
    reportPath: flags.report === undefined ? null : path.resolve(cwd, flags.report),
  };
}

function requestOf(flags: RelayoutFlags): RelayoutRequest {
  const partitions = flags.partitions === false ? 'none' : typeof flags.partitions === 'string' ? positiveInt(flags.partitions, '--partitions', 0, Number.MAX_SAFE_INTEGER) : null;
  if (typeof partitions === 'number' && (partitions < 2 || partitions > 256)) throw new MigrateError('E_USAGE', '--partitions must be from 2 to 256 (--no-partitions for a plain table)');
  const vectorType = flags.vectorType === undefined ? null : oneOf(flags.vectorType, '--vector-type', ['vector', 'halfvec'] as const, 'vector');
  const dimensions = flags.dimensions === undefined ? null : positiveInt(flags.dimensions, '--dimensions', 0, 16000);
  const reduceFlag = flags.reduce === undefined ? null : oneOf(flags.reduce, '--reduce', ['truncate', 'pca'] as const, 'truncate');
  if (reduceFlag !== null && dimensions === null) throw new MigrateError('E_USAGE', '--reduce needs --dimensions <n>: the dimension to reduce to');
  return { partitions, vectorType, dimensions, reduce: dimensions === null ? null : (reduceFlag ?? 'truncate'), pcaSample: positiveInt(flags.pcaSample, '--pca-sample', DEFAULTS.pcaSample, 1_000_000) };
}
