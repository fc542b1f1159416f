import path from 'node:path';
import type { Pool } from 'pg';
import { MigrateError } from './errors.js';
import { Secret } from './secret.js';
import { MAX_PARTITIONS, MIN_PARTITIONS } from './sink/identifiers.js';
import { DEFAULT_QUEUE_POLICY, type QueuePolicy } from './queue/engine.js';
import { isSanitizedUserId } from './source/discover.js';
import type { SourceConfig } from './source/discoverSource.js';
import { parseLayout } from './source/layout.js';
import type { ReduceMode } from './transform/reduction.js';

export const DEFAULTS = {
  model: 'Xenova/all-MiniLM-L6-v2',
  /** Which of the model's ONNX files embeds (transformers.js dtype): fp32 is onnx/model.onnx. */
  dtype: 'fp32',
  batchSize: 32,
  table: 'vector_documents',
  pgliteDir: '.pgvector-migrate/pglite',
  backupRoot: 'migration_backup',
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

/** The --dtype choices: onnx/model.onnx, model_fp16.onnx, model_quantized.onnx, model_q4.onnx. */
export const DTYPES = ['fp32', 'fp16', 'q8', 'q4'] as const;
export type EmbeddingDtype = (typeof DTYPES)[number];

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
  /** The library caller's pg.Pool, used instead of `url` (set by the caller, never from flags). */
  pool?: Pool;
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
  /**
   * --dtype or $PGVECTOR_MIGRATE_DTYPE; absent when neither names one: the model embeds with
   * DEFAULTS.dtype, and query and verify use the dtype the rows record.
   */
  dtype?: EmbeddingDtype;
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
  dtype?: string;
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
  dtype?: string;
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
  PGVECTOR_MIGRATE_DTYPE?: string | undefined;
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

export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * The candidate master keys, in the order they are tried. Flags win over the environment as a
 * whole: any --master-key replaces both variables. From the environment, ENCRYPTION_MASTER_KEY
 * (the application's current key) comes first, then the ENCRYPTION_MASTER_KEYS entries. A key
 * given twice is tried once, at its first position.
 */
export function masterKeys(flags: { masterKey?: string | string[] }, env: Environment): Secret[] {
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

export function sourceConfig(flags: Pick<MigrateFlags, 'source' | 'owner' | 'layout'>): SourceConfig {
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
    reduction: {
      mode: oneOf(flags.reduce, '--reduce', ['auto', 'pca', 'truncate', 'halfvec', 'none'] as const, 'auto'),
      dimensions: flags.dimensions === undefined ? null : positiveInt(flags.dimensions, '--dimensions', 0, 16000),
      pcaSample: positiveInt(flags.pcaSample, '--pca-sample', DEFAULTS.pcaSample, 1_000_000),
      pcaSeed: DEFAULTS.pcaSeed,
    },
    swap: flags.swap !== false,
    noWait: flags.wait === false,
    reportPath: flags.report === undefined ? null : path.resolve(cwd, flags.report),
    queue: queuePolicy(flags),
    pageRows: flags.pageRows === undefined ? null : positiveInt(flags.pageRows, '--page-rows', 0, 1_000_000),
  };
}

/** The flags of commands that can --enqueue their work for `worker` processes. */
export interface EnqueueFlags {
  enqueue?: boolean;
  jobTimeout?: string;
  attempts?: string;
}

/** --job-timeout, --attempts: how long a silent worker keeps its job, and how often a job is tried. */
export function queuePolicy(flags: EnqueueFlags): QueuePolicy {
  return {
    ...DEFAULT_QUEUE_POLICY,
    expireSeconds: positiveInt(flags.jobTimeout, '--job-timeout', DEFAULT_QUEUE_POLICY.expireSeconds, 86_400),
    attempts: positiveInt(flags.attempts, '--attempts', DEFAULT_QUEUE_POLICY.attempts, 100),
  };
}

export interface WorkerConfig {
  database: DatabaseConfig;
  /** Cache and download policy for the models the jobs name (the job carries only the model id). */
  modelCacheDir: string | null;
  allowRemoteModels: boolean;
  /** This machine's keys: jobs never carry them. */
  masterKeys: Secret[];
  tryDefaultKey: boolean;
  /** Jobs run at once by this process. */
  concurrency: number;
  /** onnxruntime threads per model call (--threads); null: onnxruntime's default, one per physical core. */
  threads: number | null;
  /** Exit once no job is queued or running anywhere (batch jobs, tests). */
  drain: boolean;
}

export interface WorkerFlags {
  databaseUrl?: string;
  modelCache?: string;
  offline?: boolean;
  masterKey?: string | string[];
  tryDefaultKey?: boolean;
  concurrency?: string;
  threads?: string;
  drain?: boolean;
}

export function buildWorkerConfig(flags: WorkerFlags, env: Environment, cwd: string): WorkerConfig {
  const model = modelConfig(flags, env, cwd);
  return {
    database: databaseConfig(flags, env, cwd),
    modelCacheDir: model.cacheDir,
    allowRemoteModels: model.allowRemoteModels,
    masterKeys: masterKeys(flags, env),
    tryDefaultKey: flags.tryDefaultKey === true,
    concurrency: positiveInt(flags.concurrency, '--concurrency', 1, 64),
    threads: flags.threads === undefined ? null : positiveInt(flags.threads, '--threads', 0, 256),
    drain: flags.drain === true,
  };
}
