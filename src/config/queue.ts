import { DEFAULT_QUEUE_POLICY, type QueuePolicy } from '../queue/engine.js';
import type { Secret } from '../secret.js';
import { databaseConfig, type DatabaseConfig } from './database.js';
import { masterKeys, type Environment } from './environment.js';
import { positiveInt } from './flagValues.js';
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
    threads: flags.threads === undefined ? null : positiveInt(flags.threads, '--threads', 1, 256),
    drain: flags.drain === true,
  };
}
