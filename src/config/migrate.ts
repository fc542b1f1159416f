import path from 'node:path';
import { MigrateError } from '../errors.js';
import type { Secret } from '../secret.js';
import { MAX_PARTITIONS, MIN_PARTITIONS } from '../sink/identifiers.js';
import { isSanitizedUserId } from '../source/discover.js';
import type { SourceConfig } from '../source/discoverSource.js';
import { parseLayout } from '../source/layout.js';
import { databaseConfig, type DatabaseConfig } from './database.js';
import { DEFAULTS } from './defaults.js';
import { masterKeys, type Environment } from './environment.js';
import { list, nonEmpty, oneOf, positiveInt } from './flagValues.js';
import { modelConfig, type ModelConfig } from './model.js';
import { reductionConfig, type ReductionConfig } from './reduction.js';
import { tableSourceConfig } from './tableSource.js';
import type { TableSourceConfig } from '../source/tableTypes.js';

export type EmbeddingsMode = 'reembed' | 'keep';

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
  /** --from-table, --from-database, --map: the stores are a PostgreSQL table's (null: a directory's). */
  tableSource: TableSourceConfig | null;
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
  fromTable?: string;
  fromDatabase?: string;
  map?: string;
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
  const database = databaseConfig(flags, env, cwd);
  const tableSource = tableSourceConfig(flags, database.url);
  if (tableSource !== null) return tableMigrateConfig(root, flags, env, cwd, now, tableSource);
  if (root.trim() === '') throw new MigrateError('E_USAGE', 'the root directory (user_data) is required (or --from-table to read a PostgreSQL table)');
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
    database,
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
    reduction: { ...reductionConfig(flags), refit: flags.refitPca === true },
    collections,
    retryFailed: flags.retryFailed === true,
    force: flags.force === true,
    noWait: flags.wait === false,
    keepPreviousDays: flags.keepPrevious === undefined ? DEFAULTS.keepPreviousDays : positiveInt(flags.keepPrevious, '--keep-previous', 0, 36500),
    partitions: flags.partitions === undefined ? null : partitionCount(flags.partitions),
    rls: flags.rls === true,
    ownerInMetadata: flags.ownerInMetadata === true,
    source: sourceConfig(flags),
    tableSource: null,
  };
}

/**
 * A run reading a table: no root, nothing to back up (the table is only read), and the directory
 * flags refused rather than ignored. Everything else is as for a directory.
 */
function tableMigrateConfig(root: string, flags: MigrateFlags, env: Environment, cwd: string, now: Date, tableSource: TableSourceConfig): MigrateConfig {
  if (root.trim() !== '') throw new MigrateError('E_USAGE', `--from-table reads a table, not a directory: drop the root argument ${JSON.stringify(root)}`);
  const directoryOnly = (['source', 'layout', 'masterKey', 'tryDefaultKey'] as const).filter((k) => flags[k] !== undefined && flags[k] !== 'auto');
  if (directoryOnly.length > 0) throw new MigrateError('E_USAGE', `--from-table does not go with ${directoryOnly.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} (they describe store directories)`);
  const { owner: _owner, fromTable: _table, fromDatabase: _database, map: _map, ...rest } = flags;
  const config = buildMigrateConfig(path.parse(cwd).root, { ...rest, backup: false }, env, cwd, now);
  if (config.embeddings === 'keep' && tableSource.mapping.vector === null) {
    throw new MigrateError('E_USAGE', '--embeddings keep loads the stored vectors: map their column with --map vector=COLUMN, or re-embed the texts (drop --embeddings keep)');
  }
  return { ...config, root: '', tableSource };
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
