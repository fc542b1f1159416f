/**
 * The kinds of job the tool queues, and their data. Jobs carry no secrets: no database URL, no
 * key, only what names the work; each worker brings its own connection and keys. A job's id is
 * derived from what it does, so enqueueing the same work again inserts nothing (pg-boss inserts
 * ON CONFLICT DO NOTHING on the id).
 */
import { v5 as uuidv5 } from 'uuid';

/** pg-boss queue names, one per kind. */
export const QUEUES = {
  reembedPage: 'pgvector-migrate.reembed-page',
  reembedSwap: 'pgvector-migrate.reembed-swap',
  store: 'pgvector-migrate.store',
  migrateFinish: 'pgvector-migrate.migrate-finish',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** The settings of a re-embedding that a worker needs to resume its job (the ledger has the rest). */
/** The model a job embeds with: what was given to --enqueue, so every worker loads the same file. */
export interface JobModel {
  id: string;
  /** The enqueuing run's --dtype (null: the default). */
  dtype: string | null;
}

export interface ReembedJobData {
  table: string;
  /** The re-embedding job (ledger) this page belongs to. */
  reembedJobId: string;
  model: string;
  /** The enqueuing run's --dtype (null: the default); a worker embeds with the same file. */
  dtype: string | null;
  batchSize: number;
  reduce: string;
  dimensions: number | null;
  pcaSample: number;
}

/** One page of the table: rows with afterId < id <= untilId. */
export interface ReembedPageData extends ReembedJobData {
  afterId: string | null;
  untilId: string | null;
}

/** Namespace of the tool's job ids (uuid v5). */
const JOB_NAMESPACE = '2f0c7a6e-0b5e-4f43-9a55-7f1b3c2d9e61';

export function jobId(...parts: readonly (string | number | null)[]): string {
  return uuidv5(JSON.stringify(parts), JOB_NAMESPACE);
}

export function reembedPageId(data: ReembedPageData): string {
  return jobId('reembed-page', data.table, data.reembedJobId, data.afterId, data.untilId);
}

export function reembedSwapId(data: ReembedJobData): string {
  return jobId('reembed-swap', data.table, data.reembedJobId);
}
