/**
 * A --from-table source as a queued store job carries it, and as a worker opens it again. A job
 * holds only what names the table (the table, the normalized mapping, which database as
 * host:port/database); the connection, with its password, is the worker's own: the target
 * database it was started with, or its --from-database, checked against the job's label so a
 * worker pointed at another database fails the job before it reads a row.
 */
import type { WorkerConfig } from '../config.js';
import { FROM_DATABASE_ENV } from '../config/queue.js';
import { parseTableMapping } from '../config/tableSource.js';
import { MigrateError } from '../errors.js';
import { describeUrl } from '../sink/redact.js';
import type { TableSourceConfig } from '../source/tableTypes.js';

export interface QueuedTableSource {
  /** --from-table as given to --enqueue. */
  table: string;
  /** The normalized mapping (part of every store's checksum, hence of the job's id). */
  mappingText: string;
  /** The table is in the target database: every worker reads it through its own --database-url. */
  inTarget: boolean;
  /** host:port/database of the source database (redact.ts describeUrl), no user or password; null when inTarget. */
  database: string | null;
}

export function queuedTableSource(source: TableSourceConfig): QueuedTableSource {
  return { table: source.table, mappingText: source.mappingText, inTarget: source.inTarget, database: source.inTarget ? null : describeUrl(source.database.reveal()) };
}

/** The job's table source on this worker: its own connection, never one the job carried. */
export function workerTableSource(queued: QueuedTableSource, worker: Pick<WorkerConfig, 'database' | 'fromDatabase'>): TableSourceConfig {
  const { mapping, text } = parseTableMapping(queued.mappingText, null);
  if (text !== queued.mappingText) throw new MigrateError('E_INTERNAL', `the queued mapping of ${queued.table} reads back as ${text}, not ${queued.mappingText}`);
  if (queued.inTarget) {
    const url = worker.database.url;
    if (url === null) throw new MigrateError('E_CONFIG', `this job reads ${queued.table} from the target database: start the worker with --database-url (or $DATABASE_URL)`);
    return { table: queued.table, database: url, inTarget: true, mapping, mappingText: text };
  }
  const label = queued.database ?? '(unknown database)';
  if (worker.fromDatabase === null) {
    throw new MigrateError('E_CONFIG', `this job reads ${queued.table} from ${label}, which is not the queue's database: start the worker with --from-database postgres://USER:PASSWORD@${label} (or $${FROM_DATABASE_ENV}); jobs never carry the source's password`);
  }
  const given = describeUrl(worker.fromDatabase.reveal());
  if (given !== label) {
    throw new MigrateError('E_CONFIG', `this job reads ${queued.table} from ${label}, but the worker's --from-database (or $${FROM_DATABASE_ENV}) is ${given}: give the worker a URL of ${label} (the host:port/database migrate --enqueue was given); nothing was read`);
  }
  return { table: queued.table, database: worker.fromDatabase, inTarget: false, mapping, mappingText: text };
}
