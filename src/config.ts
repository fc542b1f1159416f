import path from 'node:path';
import { MigrateError } from './errors.js';
import { Secret } from './secret.js';
import { MAX_PARTITIONS, MIN_PARTITIONS } from './sink/identifiers.js';
import { isSanitizedUserId } from './source/discover.js';
import type { SourceConfig } from './source/discoverSource.js';
import { parseLayout } from './source/layout.js';
import type { ReduceMode } from './transform/reduction.js';

export const DEFAULTS = {
  model: 'Xenova/all-MiniLM-L6-v2',
  batchSize: 32,
  table: 'vector_documents',
  pgliteDir: '.pgvector-migrate/pglite',
  backupRoot: 'migration_backup',
  /** pgvector indexes `vector` columns of at most this many dimensions. */
  maxIndexedDimensions: 2000,
  /** Texts embedded during a dry run to estimate the time of the real one. */
  dryRunSampleSize: 64,
  pcaSample: 20000,
  /** Seed of the PCA sample, recorded with the model so a fit can be repeated. */
  pcaSeed: 20000,
  /** `embedding_model` of rows loaded in keep mode. */
  keptLabel: 'stored',
  /** Days the rows a run replaced are kept in <table>_previous for rollback. */
  keepPreviousDays: 7,
} as const;

export type EmbeddingsMode = 'reembed' | 'keep';

export interface ReductionConfig {
  mode: ReduceMode;
  /** --dimensions: reduce to this on purpose (PCA). */
  dimensions: number | null;
  pcaSample: number;
  pcaSeed: number;
  refit: boolean;
}

export interface DatabaseConfig {
  /** A PostgreSQL URL (secret: it may hold a password), or null for the embedded PGlite database. */
  url: Secret | null;
  pgliteDir: string;
  /** --wait: wait for another process holding the PGlite directory instead of failing with E_LOCKED. */
  waitForLock: boolean;
  /** Where to say that waiting began (the CLI: stderr); set by the caller, never from flags. */
  onLockWait?: (notice: string) => void;
}

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
}

export interface MigrateConfig {
  root: string;
  dryRun: boolean;
  database: DatabaseConfig;
  /** Candidate master keys, in the order they are tried (empty: none configured). */
  masterKeys: Secret[];
  /** Also try the application's default per-user key (always tried when no master key is configured). */
  tryDefaultKey: boolean;
  model: ModelConfig;
  batchSize: number;
  users: string[] | null;
  table: string;
  /** Directory this run's backups go to (already includes the timestamp), or null with --no-backup. */
  backupDir: string | null;
  reportPath: string | null;
  dryRunSampleSize: number;
  /** reembed: texts through the model; keep: the stored vectors as they are, no model. */
  embeddings: EmbeddingsMode;
  /** Label recorded as `embedding_model` in keep mode. */
  keptLabel: string;
  reduction: ReductionConfig;
  /** Only these collections (null: all). */
  collections: string[] | null;
  /** Re-run only the stores whose latest outcome in the ledger is a failure. */
  retryFailed: boolean;
  /** Load stores even when their source files are unchanged since their last successful load. */
  force: boolean;
  /** Fail a store at once with E_LOCKED when another run holds it, instead of waiting. */
  noWait: boolean;
  keepPreviousDays: number;
  /** --partitions: a table created by this run is hash-partitioned on user_id into this many; null: plain. */
  partitions: number | null;
  /** --rls: enable and force row-level security on the table (sink: TargetSpec.rls). */
  rls: boolean;
  /** --owner-in-metadata: each row's metadata also carries user_id and collection_name (transform/ownerMetadata.ts). */
  ownerInMetadata: boolean;
  /** --source, --user, --layout: which format is read and who owns its stores (source/discoverSource.ts). */
  source: SourceConfig;
}

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

/** What the command line gave, before defaults and environment are applied. */
export interface MigrateFlags {
  dryRun?: boolean;
  databaseUrl?: string;
  pgliteDir?: string;
  /** One --master-key, or several (the flag repeated). */
  masterKey?: string | string[];
  tryDefaultKey?: boolean;
  model?: string;
  modelCache?: string;
  offline?: boolean;
  batchSize?: string;
  users?: string;
  /** --source auto|simple|faiss|llamaindex|chroma. */
  source?: string;
  /** --user of migrate: the one owner of every store under the root. */
  owner?: string;
  layout?: string;
  table?: string;
  backupDir?: string;
  /** commander sets this to false for --no-backup. */
  backup?: boolean;
  report?: string;
  embeddings?: string;
  sourceModel?: string;
  reduce?: string;
  dimensions?: string;
  pcaSample?: string;
  refitPca?: boolean;
  collections?: string;
  retryFailed?: boolean;
  force?: boolean;
  /** commander sets this to false for --no-wait. */
  wait?: boolean;
  keepPrevious?: string;
  partitions?: string;
  rls?: boolean;
  ownerInMetadata?: boolean;
}

/** The options every command that opens the database and the model shares. */
interface ModelDatabaseFlags {
  databaseUrl?: string;
  pgliteDir?: string;
  model?: string;
  modelCache?: string;
  offline?: boolean;
  table?: string;
}

export interface QueryFlags extends ModelDatabaseFlags {
  user: string;
  collection?: string;
  k?: string;
  /** A JSON file (or - for stdin) holding the query vector, for tables whose model cannot run here (keep mode). */
  embeddingFile?: string;
}

/** The only environment variables the tool reads; the CLI passes them in, no module reads process.env. */
export interface Environment {
  DATABASE_URL?: string | undefined;
  ENCRYPTION_MASTER_KEY?: string | undefined;
  /** Several candidate master keys, comma-separated (a comma cannot occur in a base64url key). */
  ENCRYPTION_MASTER_KEYS?: string | undefined;
  PGVECTOR_MIGRATE_MODEL?: string | undefined;
  PGVECTOR_MIGRATE_MODEL_CACHE?: string | undefined;
}

function positiveInt(raw: string | undefined, name: string, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new MigrateError('E_USAGE', `${name} must be a positive integer, got "${raw}"`);
  const value = Number(raw);
  if (value < 1 || value > max) throw new MigrateError('E_USAGE', `${name} must be between 1 and ${max}, got ${value}`);
  return value;
}

function oneOf<T extends string>(raw: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw new MigrateError('E_USAGE', `${name} must be one of ${allowed.join(', ')}; got "${raw}"`);
}

function list(raw: string | undefined, name: string): string[] | null {
  if (raw === undefined) return null;
  const items = raw
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  if (items.length === 0) throw new MigrateError('E_USAGE', `${name} needs at least one name`);
  return items;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * The candidate master keys, in the order they are tried. Flags win over the environment as a
 * whole: any --master-key replaces both variables. From the environment, ENCRYPTION_MASTER_KEY
 * (the application's current key) comes first, then the ENCRYPTION_MASTER_KEYS entries. A key
 * given twice is tried once, at its first position.
 */
function masterKeys(flags: { masterKey?: string | string[] }, env: Environment): Secret[] {
  const given = flags.masterKey === undefined ? [] : Array.isArray(flags.masterKey) ? flags.masterKey : [flags.masterKey];
  const fromFlags = given.filter((k) => nonEmpty(k) !== undefined);
  const fromEnv = [env.ENCRYPTION_MASTER_KEY, ...(env.ENCRYPTION_MASTER_KEYS ?? '').split(',').map((k) => k.trim())].filter(
    (k): k is string => nonEmpty(k) !== undefined,
  );
  return [...new Set(fromFlags.length > 0 ? fromFlags : fromEnv)].map((k) => new Secret(k));
}

export function databaseConfig(flags: { databaseUrl?: string; pgliteDir?: string; wait?: boolean }, env: Environment, cwd: string): DatabaseConfig {
  const url = nonEmpty(flags.databaseUrl) ?? nonEmpty(env.DATABASE_URL);
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) {
    throw new MigrateError('E_USAGE', 'the database URL must start with postgres:// or postgresql://');
  }
  return {
    url: url === undefined ? null : new Secret(url),
    pgliteDir: path.resolve(cwd, flags.pgliteDir ?? DEFAULTS.pgliteDir),
    // --wait alone; migrate's and reembed's --no-wait (store and table locks) leave it off.
    waitForLock: flags.wait === true,
  };
}

function modelConfig(flags: { model?: string; modelCache?: string; offline?: boolean }, env: Environment, cwd: string): ModelConfig {
  const cache = nonEmpty(flags.modelCache) ?? nonEmpty(env.PGVECTOR_MIGRATE_MODEL_CACHE);
  const named = nonEmpty(flags.model) ?? nonEmpty(env.PGVECTOR_MIGRATE_MODEL);
  return {
    id: named ?? DEFAULTS.model,
    cacheDir: cache === undefined ? null : path.resolve(cwd, cache),
    allowRemoteModels: flags.offline !== true,
    ...(named === undefined ? { fromDefault: true as const } : {}),
  };
}

/** Compact UTC timestamp for backup directory names: 20261121T185100Z. */
export function backupStamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Builds the run's configuration once: flags win over the environment, which wins over defaults. */
export function buildMigrateConfig(root: string, flags: MigrateFlags, env: Environment, cwd: string, now: Date): MigrateConfig {
  if (root.trim() === '') throw new MigrateError('E_USAGE', 'the root directory (user_data) is required');
  const absRoot = path.resolve(cwd, root);
  const users = list(flags.users, '--users');
  const collections = list(flags.collections, '--collections');

  let backupDir: string | null = null;
  if (flags.backup !== false) {
    const base = path.resolve(cwd, flags.backupDir ?? DEFAULTS.backupRoot);
    backupDir = path.join(base, backupStamp(now));
    // Writing backups inside the tree being migrated would modify the source.
    if (isInside(backupDir, absRoot)) {
      throw new MigrateError('E_USAGE', `--backup-dir ${base} is inside the source root ${absRoot}; choose a directory outside it`);
    }
  }

  return {
    root: absRoot,
    dryRun: flags.dryRun === true,
    database: databaseConfig(flags, env, cwd),
    masterKeys: masterKeys(flags, env),
    tryDefaultKey: flags.tryDefaultKey === true,
    model: modelConfig(flags, env, cwd),
    batchSize: positiveInt(flags.batchSize, '--batch-size', DEFAULTS.batchSize, 4096),
    users,
    table: flags.table ?? DEFAULTS.table,
    backupDir,
    reportPath: flags.report === undefined ? null : path.resolve(cwd, flags.report),
    dryRunSampleSize: DEFAULTS.dryRunSampleSize,
    embeddings: oneOf(flags.embeddings, '--embeddings', ['reembed', 'keep'] as const, 'reembed'),
    keptLabel: nonEmpty(flags.sourceModel) ?? DEFAULTS.keptLabel,
    reduction: {
      mode: oneOf(flags.reduce, '--reduce', ['auto', 'pca', 'truncate', 'halfvec', 'none'] as const, 'auto'),
      dimensions: flags.dimensions === undefined ? null : positiveInt(flags.dimensions, '--dimensions', 0, 16000),
      pcaSample: positiveInt(flags.pcaSample, '--pca-sample', DEFAULTS.pcaSample, 1_000_000),
      pcaSeed: DEFAULTS.pcaSeed,
      refit: flags.refitPca === true,
    },
    collections,
    retryFailed: flags.retryFailed === true,
    force: flags.force === true,
    noWait: flags.wait === false,
    keepPreviousDays: flags.keepPrevious === undefined ? DEFAULTS.keepPreviousDays : positiveInt(flags.keepPrevious, '--keep-previous', 0, 36500),
    partitions: flags.partitions === undefined ? null : partitionCount(flags.partitions),
    rls: flags.rls === true,
    ownerInMetadata: flags.ownerInMetadata === true,
    source: sourceConfig(flags),
  };
}

function sourceConfig(flags: Pick<MigrateFlags, 'source' | 'owner' | 'layout'>): SourceConfig {
  const format = oneOf(flags.source, '--source', ['auto', 'simple', 'faiss', 'llamaindex', 'chroma'] as const, 'auto');
  const owner = flags.owner ?? null;
  if (owner !== null && !isSanitizedUserId(owner)) throw new MigrateError('E_USAGE', `--user ${JSON.stringify(owner)} is not a sanitized user id (only letters, digits, "-" and single "_" between them)`);
  const layout = flags.layout === undefined ? null : parseLayout(flags.layout);
  if (layout !== null && owner !== null && layout.segments.some((s) => s.kind === 'user')) throw new MigrateError('E_USAGE', `--user and a --layout with {user} both name the owner; pass one of them`);
  if (layout !== null && owner === null && !layout.segments.some((s) => s.kind === 'user')) throw new MigrateError('E_USAGE', `--layout ${JSON.stringify(layout.pattern)} has no {user}: add it, or pass --user U`);
  return { format, owner, layout };
}

/** --partitions N: the sink's bounds (identifiers.ts), reported as a usage error naming the flag. */
function partitionCount(value: string): number {
  const n = positiveInt(value, '--partitions', MIN_PARTITIONS, MAX_PARTITIONS);
  if (n < MIN_PARTITIONS) throw new MigrateError('E_USAGE', `--partitions must be between ${MIN_PARTITIONS} and ${MAX_PARTITIONS}, got ${n}`);
  return n;
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

/** What `reembed` does: fill (and by default swap in) the side table, remove it, or undo a swap. */
export type ReembedAction = 'run' | 'abort' | 'swap-back';

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
}

export interface ReembedFlags extends ModelDatabaseFlags {
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
  if (flags.abort === true && flags.swapBack === true) throw new MigrateError('E_USAGE', '--abort and --swap-back are separate steps; give one of them');
  const action: ReembedAction = flags.abort === true ? 'abort' : flags.swapBack === true ? 'swap-back' : 'run';
  // Re-embedding a whole table with the default model by accident would cost hours: say which.
  if (action === 'run' && nonEmpty(flags.model) === undefined && nonEmpty(env.PGVECTOR_MIGRATE_MODEL) === undefined) {
    throw new MigrateError('E_USAGE', 'reembed needs the new model: --model <hub id or directory> (or $PGVECTOR_MIGRATE_MODEL)');
  }
  return {
    action,
    database: databaseConfig(flags, env, cwd),
    model: modelConfig(flags, env, cwd),
    table: flags.table ?? DEFAULTS.table,
    users: list(flags.users, '--users'),
    batchSize: positiveInt(flags.batchSize, '--batch-size', DEFAULTS.batchSize, 4096),
    reduction: {
      mode: oneOf(flags.reduce, '--reduce', ['auto', 'pca', 'truncate', 'halfvec', 'none'] as const, 'auto'),
      dimensions: flags.dimensions === undefined ? null : positiveInt(flags.dimensions, '--dimensions', 0, 16000),
      pcaSample: positiveInt(flags.pcaSample, '--pca-sample', DEFAULTS.pcaSample, 1_000_000),
      pcaSeed: DEFAULTS.pcaSeed,
    },
    swap: flags.swap !== false,
    noWait: flags.wait === false,
    reportPath: flags.report === undefined ? null : path.resolve(cwd, flags.report),
  };
}

/**
 * The library's typed migrate options: numbers as numbers, lists as arrays, and every default
 * the CLI has. The CLI's strings go through buildMigrateConfig instead; both end in one MigrateConfig.
 */
export interface MigrateOptions {
  /** The source root (user_data), resolved against `cwd`. */
  root: string;
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
  };
  const base = buildMigrateConfig(options.root, flags, {}, options.cwd ?? cwd, now);
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
