import type { EmbeddingsMode, MigrateConfig, MigrateFlags } from './config.js';
import { buildMigrateConfig, DEFAULTS, masterKeys, modelConfig, nonEmpty, sourceConfig } from './config.js';
import { MigrateError } from './errors.js';
import { MAX_PARTITIONS, MIN_PARTITIONS } from './sink/identifiers.js';
import type { SourceConfig } from './source/discoverSource.js';
import type { ReduceMode } from './transform/reduction.js';

/**
 * The library's typed migrate options: numbers as numbers, lists as arrays, and every default
 * the CLI has. The CLI's strings go through buildMigrateConfig instead; both end in one MigrateConfig.
 */
/** A PostgreSQL table as the source (README "From a pgvector table"); it is only read. */
export interface TableSourceOptions {
  /** The table, possibly schema-qualified. */
  table: string;
  /** The database holding it; absent: the target database (which must then be PostgreSQL, not PGlite). */
  database?: string;
  /** The mapping, as --map writes it: `id=...,user_id=...,collection=...,text=...,metadata=...,vector=...`. */
  map: string;
}

export interface MigrateOptions {
  /** The source root (user_data), resolved against `cwd`; '' (or absent) with `fromTable`. */
  root?: string;
  /** Read the stores from a PostgreSQL table instead of a root. */
  fromTable?: TableSourceOptions;
  /** A PostgreSQL URL; absent: the embedded PGlite database in `pgliteDir`. */
  databaseUrl?: string;
  pgliteDir?: string;
  /** Wait for another process holding the PGlite directory instead of failing with E_LOCKED. */
  waitForLock?: boolean;
  masterKeys?: readonly string[];
  tryDefaultKey?: boolean;
  dryRun?: boolean;
  embeddings?: EmbeddingsMode;
  /** keep mode: the label rows record as their model. */
  keptLabel?: string;
  model?: string;
  modelCacheDir?: string;
  offline?: boolean;
  batchSize?: number;
  users?: readonly string[];
  collections?: readonly string[];
  table?: string;
  /** Where backups go (a timestamped directory under it); null: no backup. Default: DEFAULTS.backupRoot under `cwd`. */
  backupDir?: string | null;
  reduce?: ReduceMode;
  dimensions?: number;
  pcaSample?: number;
  refitPca?: boolean;
  retryFailed?: boolean;
  force?: boolean;
  /** Fail a store with E_LOCKED when another run holds it, instead of waiting. */
  noWait?: boolean;
  keepPreviousDays?: number;
  partitions?: number;
  rls?: boolean;
  ownerInMetadata?: boolean;
  /** The source format (default auto), the one owner of every store (`--user`), or a `--layout` pattern. */
  source?: SourceConfig['format'];
  user?: string;
  layout?: string;
  /** Relative paths are resolved against it (default: the process's working directory, read by the caller). */
  cwd?: string;
}

function integer(value: number | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) throw new MigrateError('E_USAGE', `${name} must be an integer between ${min} and ${max}, got ${value}`);
  return value;
}

function names(value: readonly string[] | undefined, name: string): string[] | null {
  if (value === undefined) return null;
  if (value.length === 0 || value.some((v) => v.trim() === '')) throw new MigrateError('E_USAGE', `${name} needs at least one name, and no empty one`);
  return [...value];
}

/** Builds the run's configuration from the library's typed options (defaults as the CLI's). */
export function migrateConfigOf(options: MigrateOptions, cwd: string, now: Date): MigrateConfig {
  const flags: MigrateFlags = {
    ...(options.databaseUrl === undefined ? {} : { databaseUrl: options.databaseUrl }),
    ...(options.pgliteDir === undefined ? {} : { pgliteDir: options.pgliteDir }),
    ...(options.backupDir === undefined || options.backupDir === null ? {} : { backupDir: options.backupDir }),
    backup: options.backupDir !== null,
    ...(options.fromTable === undefined
      ? {}
      : { fromTable: options.fromTable.table, map: options.fromTable.map, ...(options.fromTable.database === undefined ? {} : { fromDatabase: options.fromTable.database }), ...(options.user === undefined ? {} : { owner: options.user }) }),
  };
  const base = buildMigrateConfig(options.root ?? '', flags, {}, options.cwd ?? cwd, now);
  const reduce = options.reduce ?? 'auto';
  if (!['auto', 'pca', 'truncate', 'halfvec', 'none'].includes(reduce)) throw new MigrateError('E_USAGE', `reduce must be one of auto, pca, truncate, halfvec, none; got "${reduce}"`);
  const embeddings = options.embeddings ?? 'reembed';
  if (embeddings !== 'reembed' && embeddings !== 'keep') throw new MigrateError('E_USAGE', `embeddings must be reembed or keep; got "${String(embeddings)}"`);
  return {
    ...base,
    database: { ...base.database, waitForLock: options.waitForLock === true },
    masterKeys: masterKeys({ masterKey: [...(options.masterKeys ?? [])] }, {}),
    tryDefaultKey: options.tryDefaultKey === true,
    dryRun: options.dryRun === true,
    embeddings,
    keptLabel: nonEmpty(options.keptLabel) ?? DEFAULTS.keptLabel,
    model: modelConfig({ ...(options.model === undefined ? {} : { model: options.model }), ...(options.modelCacheDir === undefined ? {} : { modelCache: options.modelCacheDir }), offline: options.offline === true }, {}, options.cwd ?? cwd),
    batchSize: integer(options.batchSize, 'batchSize', DEFAULTS.batchSize, 1, 4096),
    users: names(options.users, 'users'),
    collections: names(options.collections, 'collections'),
    table: options.table ?? DEFAULTS.table,
    reduction: {
      mode: reduce,
      dimensions: options.dimensions === undefined ? null : integer(options.dimensions, 'dimensions', 0, 1, 16000),
      pcaSample: integer(options.pcaSample, 'pcaSample', DEFAULTS.pcaSample, 1, 1_000_000),
      pcaSeed: DEFAULTS.pcaSeed,
      refit: options.refitPca === true,
    },
    retryFailed: options.retryFailed === true,
    force: options.force === true,
    noWait: options.noWait === true,
    keepPreviousDays: integer(options.keepPreviousDays, 'keepPreviousDays', DEFAULTS.keepPreviousDays, 1, 36500),
    partitions: options.partitions === undefined ? null : integer(options.partitions, 'partitions', 0, MIN_PARTITIONS, MAX_PARTITIONS),
    rls: options.rls === true,
    ownerInMetadata: options.ownerInMetadata === true,
    source: sourceConfig({ ...(options.source === undefined ? {} : { source: options.source }), ...(options.user === undefined ? {} : { owner: options.user }), ...(options.layout === undefined ? {} : { layout: options.layout }) }),
  };
}
