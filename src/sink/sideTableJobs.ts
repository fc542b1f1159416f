/**
 * What every side-table job of a documents table shares (`reembed` and `relayout`): the job
 * record in the ledger's `reembed_jobs` (one running job per table, whatever its kind, so two jobs
 * never write the same side table), the swap that renames the table to `<table>_prev_<timestamp>`
 * and the side table to the table in one transaction, its undoing, and the abort. The owner of
 * the swap; what a job must do under the swap's lock before the renames (its own catch-up and
 * checks) is the caller's.
 */
import { MigrateError } from '../errors.js';
import type { Guard } from './access.js';
import type { Driver, DriverTransaction, SqlRunner } from './driver.js';
import {
  ledgerOf,
  pcaModelsTable,
  previousTable,
  quoteIdent,
  resolveTable,
  retiredTable,
  sideTable,
  suffixedName,
  suffixOf,
  type LedgerTables,
  type ResolvedTable,
  type SqlFragment,
} from './identifiers.js';
import { isoTime } from './ledgerRows.js';
import { tableIdentity, tableRewriteLock, takeLocks } from './locks.js';
import { relationExists } from './schema.js';
import { sqlFile } from './sqlFiles.js';
import { isRelayoutJob } from './reembedding.js';
import type { LockOptions, NewReembedJob, ReembedJob } from './types.js';

interface JobRow extends Record<string, unknown> {
  id: string;
  table_name: string;
  side_table: string;
  model: string;
  fingerprint: string;
  dimensions: number;
  vector_type: string;
  distance: string;
  pca_model_id: string | null;
  options: Record<string, unknown> | null;
  started_at: unknown;
  status: string;
  previous_table: string | null;
  swapped_at: unknown;
  finished_at: unknown;
}

function jobFromRow(row: JobRow): ReembedJob {
  return {
    id: row.id,
    table: row.table_name,
    sideTable: row.side_table,
    model: row.model,
    serializedSpace: row.fingerprint,
    dimensions: Number(row.dimensions),
    vectorType: row.vector_type === 'halfvec' ? 'halfvec' : 'vector',
    distance: row.distance === 'l2' ? 'l2' : 'cosine',
    pcaModelId: row.pca_model_id,
    options: row.options ?? {},
    startedAt: isoTime(row.started_at) ?? '',
    status: row.status === 'swapped' ? 'swapped' : row.status === 'aborted' ? 'aborted' : 'running',
    previousTable: row.previous_table,
    swappedAt: isoTime(row.swapped_at),
    finishedAt: isoTime(row.finished_at),
  };
}

/** A name in `table`'s schema. */
function sibling(table: ResolvedTable, name: string): ResolvedTable {
  return resolveTable(table.schema === null ? name : `${table.schema}.${name}`);
}

export class SideTableJobs {
  readonly #db: Driver;
  readonly #guard: Guard;
  readonly table: ResolvedTable;
  readonly side: ResolvedTable;
  readonly #ledger: LedgerTables;

  constructor(db: Driver, guard: Guard, table: ResolvedTable) {
    this.#db = db;
    this.#guard = guard;
    this.table = table;
    this.side = sideTable(table);
    this.#ledger = ledgerOf(table);
  }

  /** The table's job in that state (running: the unfinished one; swapped: the latest swap), or null. */
  async job(db: SqlRunner, status: 'running' | 'swapped'): Promise<ReembedJob | null> {
    if (!(await relationExists(db, this.#ledger.reembeds))) return null;
    const { rows } = await db.query<JobRow>(sqlFile('queries/reembed_job_get.sql', this.#ledger.sql), [this.table.name, status]);
    return rows[0] === undefined ? null : jobFromRow(rows[0]);
  }

  /** Records a new running job; `what` names the kind of job in messages. */
  async start(job: NewReembedJob, what: string): Promise<ReembedJob> {
    this.assertWritable(`start a ${what}`);
    return this.#guard('E_REEMBED', `starting the ${what} of ${this.table.display}`, async () => {
      if (!(await relationExists(this.#db, this.side))) {
        throw new MigrateError('E_SCHEMA', `the side table ${this.side.display} does not exist; create it first (ensureSchema with its spec)`);
      }
      return this.#db.transaction(async (tx) => {
        await this.#lockJobs(tx);
        const running = await this.job(tx, 'running');
        if (running !== null) {
          throw new MigrateError('E_REEMBED', `${this.table.display} already has an unfinished ${jobKind(running)} (job ${running.id}); resume it or abort it first`);
        }
        const { rows } = await tx.query<JobRow>(sqlFile('queries/reembed_job_insert.sql', this.#ledger.sql), [
          job.id,
          this.table.name,
          this.side.name,
          job.model,
          job.serializedSpace,
          job.dimensions,
          job.vectorType,
          job.distance,
          job.pcaModelId,
          JSON.stringify(job.options),
        ]);
        const row = rows[0];
        if (row === undefined) throw new MigrateError('E_INTERNAL', 'reembed_job_insert.sql returned no row');
        return jobFromRow(row);
      });
    });
  }

  /**
   * The swap, in ONE transaction holding both tables exclusively: `underLock` brings the side
   * table up to date with the table and checks it (throwing leaves everything as it was), then
   * the table is renamed `<table>_prev_<timestamp>` and the side table takes its name, each with
   * its indexes, partitions and `_previous` table; the PCA models and rollback records follow.
   */
  async swap<T>(job: ReembedJob, options: LockOptions, underLock: (tx: DriverTransaction) => Promise<T>): Promise<T & { previousTable: string }> {
    this.assertWritable('swap tables');
    const retired = retiredTable(this.table, new Date());
    return this.#guard('E_REEMBED', `swapping ${this.side.display} in for ${this.table.display}`, () =>
      this.#db.transaction(async (tx) => {
        // Loads of the table (which take its lock in shared mode) finish first; new ones wait.
        await takeLocks(tx, [tableRewriteLock(this.table, await tableIdentity(tx, this.table))], options);
        await this.#lockTables(tx, [this.table, this.side, previousTable(this.table), previousTable(this.side)]);
        const running = await this.job(tx, 'running');
        if (running?.id !== job.id) throw new MigrateError('E_REEMBED', `job ${job.id} of ${this.table.display} is no longer running (aborted or swapped by another process)`);
        // Nothing can write to the table any more: what the job catches up with now is the last of it.
        const result = await underLock(tx);
        await this.#renameFamily(tx, this.table, retired);
        await this.#renameFamily(tx, this.side, this.table);
        await this.#moveRecords(tx, this.table.name, retired.name);
        await this.#moveRecords(tx, this.side.name, this.table.name);
        await tx.query(sqlFile('queries/reembed_job_status.sql', this.#ledger.sql), [job.id, 'swapped', retired.name]);
        return { ...result, previousTable: retired.display };
      }),
    );
  }

  /** Drops the unfinished job's side table (and its `_previous` and PCA models) and marks it aborted. */
  async abort(job: ReembedJob): Promise<void> {
    this.assertWritable(`abort a ${jobKind(job)}`);
    await this.#guard('E_REEMBED', `aborting the ${jobKind(job)} of ${this.table.display}`, () =>
      this.#db.transaction(async (tx) => {
        await this.#lockJobs(tx);
        const running = await this.job(tx, 'running');
        if (running?.id !== job.id) throw new MigrateError('E_REEMBED', `job ${job.id} of ${this.table.display} is not running; nothing to abort`);
        if (job.sideTable !== this.side.name) throw new MigrateError('E_INTERNAL', `job ${job.id} names side table ${job.sideTable}, expected ${this.side.name}`);
        await tx.exec(sqlFile('queries/drop_table.sql', { table: previousTable(this.side).quoted }));
        await tx.exec(sqlFile('queries/drop_table.sql', { table: this.side.quoted }));
        const models = pcaModelsTable(this.table);
        if (await relationExists(tx, models)) await tx.query(sqlFile('queries/pca_models_delete.sql', { pca_models: models.quoted }), [this.side.name]);
        await tx.query(sqlFile('queries/reembed_job_status.sql', this.#ledger.sql), [job.id, 'aborted', null]);
      }),
    );
  }

  /**
   * Undoes the latest swap in one transaction: the current table becomes the side table again
   * (its job running, ready to be checked and swapped in again, or aborted) and the retired table
   * gets the table's name back. E_REEMBED when there is no swap to undo or a side table exists.
   */
  async swapBack(options: LockOptions): Promise<{ restored: string; sideTable: string; job: ReembedJob }> {
    this.assertWritable('swap tables back');
    return this.#guard('E_REEMBED', `swapping ${this.table.display} back`, () =>
      this.#db.transaction(async (tx) => {
        await this.#lockJobs(tx);
        const job = await this.job(tx, 'swapped');
        if (job === null || job.previousTable === null) throw new MigrateError('E_REEMBED', `${this.table.display} has no swapped re-embedding or re-layout to undo`);
        const running = await this.job(tx, 'running');
        if (running !== null || (await relationExists(tx, this.side))) {
          throw new MigrateError('E_REEMBED', `${this.side.display} exists (${running === null ? 'job unknown' : `${jobKind(running)} job ${running.id}`}); abort it first (reembed --abort or relayout --abort), then swap back`);
        }
        const retired = sibling(this.table, job.previousTable);
        if (!(await relationExists(tx, retired))) throw new MigrateError('E_REEMBED', `the retired table ${retired.display} no longer exists; nothing to swap back to`);
        await takeLocks(tx, [tableRewriteLock(this.table, await tableIdentity(tx, this.table))], options);
        await this.#lockTables(tx, [this.table, retired, previousTable(this.table), previousTable(retired)]);
        await this.#renameFamily(tx, this.table, this.side);
        await this.#renameFamily(tx, retired, this.table);
        await this.#moveRecords(tx, this.table.name, this.side.name);
        await this.#moveRecords(tx, retired.name, this.table.name);
        await tx.query(sqlFile('queries/reembed_job_status.sql', this.#ledger.sql), [job.id, 'running', null]);
        return { restored: retired.display, sideTable: this.side.display, job: { ...job, status: 'running', previousTable: null, swappedAt: null, finishedAt: null } };
      }),
    );
  }

  assertWritable(action: string): void {
    if (this.#db.readOnly) throw new MigrateError('E_USAGE', `the database at ${this.#db.location} was opened read-only (dry run); cannot ${action}`);
  }

  /** Serializes starting, aborting and swapping back the table's jobs (of every kind). */
  async #lockJobs(tx: SqlRunner): Promise<void> {
    await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate reembed ${this.table.regclassText}`]);
  }

  async #lockTables(tx: SqlRunner, tables: readonly ResolvedTable[]): Promise<void> {
    const present: ResolvedTable[] = [];
    for (const t of tables) if (await relationExists(tx, t)) present.push(t);
    await tx.exec(sqlFile('queries/reembed_lock.sql', { tables: present.map((t) => t.quoted).join(', ') as SqlFragment }));
  }

  /**
   * Renames `from` to `to` with everything named after it: its indexes and partitions (whose
   * names schema.ts derives from the table's, so a later ensureSchema finds them under the new
   * name and does not build duplicates) and its `_previous` table with that one's indexes.
   */
  async #renameFamily(tx: SqlRunner, from: ResolvedTable, to: ResolvedTable): Promise<void> {
    for (const [a, b] of [
      [from, to],
      [previousTable(from), previousTable(to)],
    ] as const) {
      if (!(await relationExists(tx, a))) continue;
      if (await relationExists(tx, b)) throw new MigrateError('E_REEMBED', `cannot rename ${a.display} to ${b.display}: that name is taken`);
      const { rows } = await tx.query<{ name: string; kind: string }>(sqlFile('queries/attached_relations.sql'), [a.regclassText]);
      await tx.exec(sqlFile('queries/rename_relation.sql', { kind: 'TABLE' as SqlFragment, relation: a.quoted, new_name: quoteIdent(b.name) }));
      for (const { name, kind } of rows) {
        const suffix = suffixOf(a.name, name);
        if (suffix === null) continue;
        const renamed = suffixedName(b.name, suffix);
        const relKind = (kind === 'i' || kind === 'I' ? 'INDEX' : 'TABLE') as SqlFragment;
        await tx.exec(sqlFile('queries/rename_relation.sql', { kind: relKind, relation: sibling(a, name).quoted, new_name: quoteIdent(renamed) }));
      }
    }
  }

  /** PCA models and rollback records keyed by table name follow their rows to the new name. */
  async #moveRecords(tx: SqlRunner, fromName: string, toName: string): Promise<void> {
    const models = pcaModelsTable(this.table);
    if (await relationExists(tx, models)) await tx.query(sqlFile('queries/pca_models_rename.sql', { pca_models: models.quoted }), [fromName, toName]);
    if (await relationExists(tx, this.#ledger.replacements)) await tx.query(sqlFile('queries/replacements_rename.sql', this.#ledger.sql), [fromName, toName]);
  }
}

function jobKind(job: ReembedJob): string {
  return isRelayoutJob(job) ? 're-layout' : `re-embedding to ${job.model}`;
}
