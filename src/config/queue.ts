import { DEFAULT_QUEUE_POLICY, type QueuePolicy } from '../queue/engine.js';
import { MigrateError } from '../errors.js';
import { Secret } from '../secret.js';
import { databaseConfig, type DatabaseConfig } from './database.js';
import { masterKeys, type Environment } from './environment.js';
import { nonEmpty, positiveInt } from './flagValues.js';
import { modelConfig } from './model.js';

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
  /**
   * The database of the --from-table sources that are not the target database (--from-database,
   * else $PGVECTOR_MIGRATE_FROM_DATABASE); a job names it only as host:port/database.
   */
  fromDatabase: Secret | null;
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
  fromDatabase?: string;
}

/** The environment variable a worker reads when --from-database is not given. */
export const FROM_DATABASE_ENV = 'PGVECTOR_MIGRATE_FROM_DATABASE';

export function buildWorkerConfig(flags: WorkerFlags, env: Environment, cwd: string): WorkerConfig {
  const model = modelConfig(flags, env, cwd);
  return {
    database: databaseConfig(flags, env, cwd),
    modelCacheDir: model.cacheDir,
    allowRemoteModels: model.allowRemoteModels,
    masterKeys: masterKeys(flags, env),
    tryDefaultKey: flags.tryDefaultKey === true,
    concurrency: positiveInt(flags.concurrency, '--concurrency', 1, 64),
    threads: flags.threads === undefined ? null : positiveInt(flags.threads, '--threads', 1, 256),
    drain: flags.drain === true,
    fromDatabase: workerFromDatabase(flags.fromDatabase ?? env.PGVECTOR_MIGRATE_FROM_DATABASE),
  };
}

function workerFromDatabase(raw: string | undefined): Secret | null {
  const url = nonEmpty(raw);
  if (url === undefined) return null;
  if (!/^postgres(ql)?:\/\//.test(url)) throw new MigrateError('E_USAGE', `--from-database (or $${FROM_DATABASE_ENV}) must be a postgres:// or postgresql:// URL`);
  return new Secret(url);
}
