/**
 * Re-embedding side by side (Sink.reembedding): the side table's rows, the job record, and the
 * swap that renames both tables in one transaction. Written over the Driver interface like the
 * rest of the sink, so pg and PGlite run the same SQL files.
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
  distanceOperatorSql,
  type LedgerTables,
  type ResolvedTable,
  type SqlFragment,
} from './identifiers.js';
import { isoTime } from './ledgerRows.js';
import { tableIdentity, tableRewriteLock, takeLocks } from './locks.js';
import { relationExists } from './schema.js';
import { COLUMN_SQL } from './columns.js';
import { sqlFile } from './sqlFiles.js';
import type {
  DocumentRow,
  LockOptions,
  NewReembedJob,
  ReembedJob,
  ReembedPendingRow,
  ReembedStoreCount,
  ReembedVector,
  Reembedding,
  SpotCheck,
  SwapResult,
} from './types.js';
import { storeLabel } from '../storeLabel.js';


const STAGING = quoteIdent('pgvector_migrate_reembed_staging');

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

export class SqlReembedding implements Reembedding {
  readonly #db: Driver;
  readonly #guard: Guard;
  readonly #table: ResolvedTable;
  readonly #side: ResolvedTable;
  readonly #ledger: LedgerTables;

  constructor(db: Driver, guard: Guard, table: ResolvedTable) {
    this.#db = db;
    this.#guard = guard;
    this.#table = table;
    this.#side = sideTable(table);
    this.#ledger = ledgerOf(table);
  }

  get sideTable(): string {
    return this.#side.display;
  }

  current(): Promise<ReembedJob | null> {
    return this.#job(this.#db, 'running');
  }

  lastSwapped(): Promise<ReembedJob | null> {
    return this.#job(this.#db, 'swapped');
  }

  async start(job: NewReembedJob): Promise<ReembedJob> {
    this.#assertWritable('start a re-embedding');
    return this.#guard('E_REEMBED', `starting the re-embedding of ${this.#table.display}`, async () => {
      if (!(await relationExists(this.#db, this.#side))) {
        throw new MigrateError('E_SCHEMA', `the side table ${this.#side.display} does not exist; create it first (ensureSchema with its spec)`);
      }
      return this.#db.transaction(async (tx) => {
        await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate reembed ${this.#table.regclassText}`]);
        const running = await this.#job(tx, 'running');
        if (running !== null) {
          throw new MigrateError('E_REEMBED', `${this.#table.display} already has an unfinished re-embedding (job ${running.id}, model ${running.model}); resume it or abort it first`);
        }
        const { rows } = await tx.query<JobRow>(sqlFile('queries/reembed_job_insert.sql', this.#ledger.sql), [
          job.id,
          this.#table.name,
          this.#side.name,
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

  async pending(job: ReembedJob, options: { users?: readonly string[] | null; afterId?: string | null; limit: number }): Promise<ReembedPendingRow[]> {
    return this.#guard('E_LOAD', `reading the rows of ${this.#table.display} still to re-embed`, () =>
      this.#pending(this.#db, job, options.users ?? null, options.afterId ?? null, options.limit),
    );
  }

  async counts(job: ReembedJob, users: readonly string[] | null = null): Promise<{ total: number; done: number }> {
    return this.#guard('E_LOAD', `counting the re-embedded rows of ${this.#table.display}`, async () => {
      const { rows } = await this.#db.query<{ total: string | number; done: string | number }>(sqlFile('queries/reembed_counts.sql', this.#pair()), [
        users === null ? null : [...users],
        job.serializedSpace,
      ]);
      return { total: Number(rows[0]?.total ?? 0), done: Number(rows[0]?.done ?? 0) };
    });
  }

  async write(job: ReembedJob, vectors: readonly ReembedVector[]): Promise<number> {
    this.#assertWritable('write re-embedded rows');
    if (vectors.length === 0) return 0;
    return this.#guard('E_LOAD', `writing re-embedded rows into ${this.#side.display}`, () => this.#db.transaction((tx) => this.#write(tx, job, vectors)));
  }

  async prune(job: ReembedJob): Promise<number> {
    this.#assertWritable('prune the side table');
    return this.#guard('E_LOAD', `removing rows of ${this.#side.display} deleted from ${this.#table.display} (job ${job.id})`, async () =>
      (await this.#db.query(sqlFile('queries/reembed_prune.sql', this.#pair()))).rowCount,
    );
  }

  async compare(job: ReembedJob): Promise<ReembedStoreCount[]> {
    return this.#guard('E_LOAD', `comparing ${this.#table.display} with ${this.#side.display}`, () => this.#compare(this.#db, job));
  }

  async spotCheck(job: ReembedJob): Promise<SpotCheck[]> {
    return this.#guard('E_LOAD', `spot-checking ${this.#side.display}`, async () => {
      const { rows } = await this.#db.query<{ id: string; user_id: string; collection_name: string; found_id: string | null; distance: number | null }>(
        sqlFile('queries/reembed_spot_check.sql', { side: this.#side.quoted, op: distanceOperatorSql(job.distance) }),
      );
      return rows.map((r) => ({ id: r.id, userId: r.user_id, collection: r.collection_name, foundId: r.found_id, distance: r.distance === null ? null : Number(r.distance) }));
    });
  }

  async sampleTexts(size: number, seed: number): Promise<string[]> {
    return this.#guard('E_LOAD', `sampling texts of ${this.#table.display}`, async () => {
      const { rows } = await this.#db.query<{ text: string }>(sqlFile('queries/reembed_sample_texts.sql', { table: this.#table.quoted }), [String(seed), size]);
      return rows.map((r) => r.text);
    });
  }

  async swap(job: ReembedJob, catchUp: (rows: ReembedPendingRow[]) => Promise<Float32Array[]>, options: LockOptions = {}): Promise<SwapResult> {
    this.#assertWritable('swap tables');
    const retired = retiredTable(this.#table, new Date());
    return this.#guard('E_REEMBED', `swapping ${this.#side.display} in for ${this.#table.display}`, () =>
      this.#db.transaction(async (tx) => {
        // Loads of the table (which take its lock in shared mode) finish first; new ones wait.
        await takeLocks(tx, [tableRewriteLock(this.#table, await tableIdentity(tx, this.#table))], options);
        await this.#lockTables(tx, [this.#table, this.#side, previousTable(this.#table), previousTable(this.#side)]);
        const running = await this.#job(tx, 'running');
        if (running?.id !== job.id) throw new MigrateError('E_REEMBED', `job ${job.id} of ${this.#table.display} is no longer running (aborted or swapped by another process)`);

        // Nothing can write to the table any more: whatever is still pending is the last of it.
        let caughtUp = 0;
        for (;;) {
          const rows = await this.#pending(tx, job, null, null, 256);
          if (rows.length === 0) break;
          const embeddings = await catchUp(rows);
          if (embeddings.length !== rows.length) throw new MigrateError('E_INTERNAL', `catch-up returned ${embeddings.length} vectors for ${rows.length} rows`);
          const written = await this.#write(tx, job, rows.map((r, i) => ({ id: r.id, text: r.text, embedding: embeddings[i] as Float32Array })));
          if (written !== rows.length) throw new MigrateError('E_REEMBED', `caught up ${written} of ${rows.length} rows under the swap's lock; nothing was swapped`);
          caughtUp += written;
        }
        const pruned = (await tx.query(sqlFile('queries/reembed_prune.sql', this.#pair()))).rowCount;
        const synced = (await tx.query(sqlFile('queries/reembed_sync.sql', { ...this.#pair(), sync_set: COLUMN_SQL.sync_set, sync_side: COLUMN_SQL.sync_side, sync_main: COLUMN_SQL.sync_main }))).rowCount;
        const differences = (await this.#compare(tx, job)).filter((s) => s.tableRows !== s.sideRows || s.staleRows > 0);
        if (differences.length > 0) {
          const first = differences[0] as ReembedStoreCount;
          throw new MigrateError(
            'E_REEMBED',
            `${differences.length} store(s) differ between ${this.#table.display} and ${this.#side.display} (e.g. ${storeLabel(first)}: ${first.tableRows} rows vs ${first.sideRows}, ${first.staleRows} stale); nothing was swapped`,
          );
        }

        await this.#renameFamily(tx, this.#table, retired);
        await this.#renameFamily(tx, this.#side, this.#table);
        await this.#moveRecords(tx, this.#table.name, retired.name);
        await this.#moveRecords(tx, this.#side.name, this.#table.name);
        await tx.query(sqlFile('queries/reembed_job_status.sql', this.#ledger.sql), [job.id, 'swapped', retired.name]);
        return { previousTable: retired.display, caughtUp, pruned, synced };
      }),
    );
  }

  async abort(job: ReembedJob): Promise<void> {
    this.#assertWritable('abort a re-embedding');
    await this.#guard('E_REEMBED', `aborting the re-embedding of ${this.#table.display}`, () =>
      this.#db.transaction(async (tx) => {
        await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate reembed ${this.#table.regclassText}`]);
        const running = await this.#job(tx, 'running');
        if (running?.id !== job.id) throw new MigrateError('E_REEMBED', `job ${job.id} of ${this.#table.display} is not running; nothing to abort`);
        if (job.sideTable !== this.#side.name) throw new MigrateError('E_INTERNAL', `job ${job.id} names side table ${job.sideTable}, expected ${this.#side.name}`);
        await tx.exec(sqlFile('queries/drop_table.sql', { table: previousTable(this.#side).quoted }));
        await tx.exec(sqlFile('queries/drop_table.sql', { table: this.#side.quoted }));
        const models = pcaModelsTable(this.#table);
        if (await relationExists(tx, models)) await tx.query(sqlFile('queries/pca_models_delete.sql', { pca_models: models.quoted }), [this.#side.name]);
        await tx.query(sqlFile('queries/reembed_job_status.sql', this.#ledger.sql), [job.id, 'aborted', null]);
      }),
    );
  }

  async swapBack(options: LockOptions = {}): Promise<{ restored: string; sideTable: string; job: ReembedJob }> {
    this.#assertWritable('swap tables back');
    return this.#guard('E_REEMBED', `swapping ${this.#table.display} back`, () =>
      this.#db.transaction(async (tx) => {
        await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate reembed ${this.#table.regclassText}`]);
        const job = await this.#job(tx, 'swapped');
        if (job === null || job.previousTable === null) throw new MigrateError('E_REEMBED', `${this.#table.display} has no swapped re-embedding to undo`);
        const running = await this.#job(tx, 'running');
        if (running !== null || (await relationExists(tx, this.#side))) {
          throw new MigrateError('E_REEMBED', `${this.#side.display} exists (re-embedding job ${running?.id ?? 'unknown'}); abort it first (reembed --abort), then swap back`);
        }
        const retired = sibling(this.#table, job.previousTable);
        if (!(await relationExists(tx, retired))) throw new MigrateError('E_REEMBED', `the retired table ${retired.display} no longer exists; nothing to swap back to`);
        await takeLocks(tx, [tableRewriteLock(this.#table, await tableIdentity(tx, this.#table))], options);
        await this.#lockTables(tx, [this.#table, retired, previousTable(this.#table), previousTable(retired)]);
        await this.#renameFamily(tx, this.#table, this.#side);
        await this.#renameFamily(tx, retired, this.#table);
        await this.#moveRecords(tx, this.#table.name, this.#side.name);
        await this.#moveRecords(tx, retired.name, this.#table.name);
        await tx.query(sqlFile('queries/reembed_job_status.sql', this.#ledger.sql), [job.id, 'running', null]);
        return { restored: retired.display, sideTable: this.#side.display, job: { ...job, status: 'running', previousTable: null, swappedAt: null, finishedAt: null } };
      }),
    );
  }

  async #job(db: SqlRunner, status: 'running' | 'swapped'): Promise<ReembedJob | null> {
    if (!(await relationExists(db, this.#ledger.reembeds))) return null;
    const { rows } = await db.query<JobRow>(sqlFile('queries/reembed_job_get.sql', this.#ledger.sql), [this.#table.name, status]);
    return rows[0] === undefined ? null : jobFromRow(rows[0]);
  }

  async #pending(db: SqlRunner, job: ReembedJob, users: readonly string[] | null, afterId: string | null, limit: number): Promise<ReembedPendingRow[]> {
    if (!Number.isInteger(limit) || limit < 1) throw new MigrateError('E_USAGE', `the batch size must be a positive integer, not ${limit}`);
    const { rows } = await db.query<{ id: string; user_id: string; collection_name: string; text: string; content_sha256: string }>(
      sqlFile('queries/reembed_pending.sql', this.#pair()),
      [users === null ? null : [...users], afterId, job.serializedSpace, limit],
    );
    return rows.map((r) => ({ id: r.id, userId: r.user_id, collection: r.collection_name, text: r.text, contentSha256: r.content_sha256 }));
  }

  async #write(tx: DriverTransaction, job: ReembedJob, vectors: readonly ReembedVector[]): Promise<number> {
    const rows: DocumentRow[] = vectors.map((v) => {
      if (v.embedding.length !== job.dimensions) {
        throw new MigrateError('E_DIM_MISMATCH', `row ${v.id} has a ${v.embedding.length}-dimension vector; the side table holds ${job.dimensions}`);
      }
      // Only id, text and the embedding's columns are read from staging (reembed_insert_staged.sql).
      return {
        id: v.id,
        userId: '',
        collection: '',
        text: v.text,
        embedding: v.embedding,
        metadataJson: '{}',
        contentSha256: '',
        embeddingModel: job.model,
        sourceIndex: 0,
        pcaModelId: job.pcaModelId,
        embeddingFingerprint: job.serializedSpace,
      };
    });
    const values = { staging: STAGING, table: this.#table.quoted, side: this.#side.quoted };
    await tx.exec(sqlFile('queries/create_staging.sql', { staging: STAGING, table: this.#side.quoted }));
    await tx.copyBinary(STAGING, single(rows), { vectorType: job.vectorType });
    await tx.query(sqlFile('queries/reembed_clear_staged.sql', values));
    const inserted = await tx.query(sqlFile('queries/reembed_insert_staged.sql', { ...values, row_columns: COLUMN_SQL.row_columns, reembed_select: COLUMN_SQL.reembed_select }));
    await tx.exec(sqlFile('queries/drop_staging.sql', { staging: STAGING }));
    return inserted.rowCount;
  }

  async #compare(db: SqlRunner, job: ReembedJob): Promise<ReembedStoreCount[]> {
    const { rows } = await db.query<{ user_id: string; collection_name: string; table_rows: string | number; side_rows: string | number; stale_rows: string | number }>(
      sqlFile('queries/reembed_compare.sql', this.#pair()),
      [job.serializedSpace],
    );
    return rows.map((r) => ({
      userId: r.user_id,
      collection: r.collection_name,
      tableRows: Number(r.table_rows),
      sideRows: Number(r.side_rows),
      staleRows: Number(r.stale_rows),
    }));
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
    const models = pcaModelsTable(this.#table);
    if (await relationExists(tx, models)) await tx.query(sqlFile('queries/pca_models_rename.sql', { pca_models: models.quoted }), [fromName, toName]);
    if (await relationExists(tx, this.#ledger.replacements)) await tx.query(sqlFile('queries/replacements_rename.sql', this.#ledger.sql), [fromName, toName]);
  }

  #pair(): Record<string, SqlFragment> {
    return { table: this.#table.quoted, side: this.#side.quoted };
  }

  #assertWritable(action: string): void {
    if (this.#db.readOnly) throw new MigrateError('E_USAGE', `the database at ${this.#db.location} was opened read-only (dry run); cannot ${action}`);
  }
}

async function* single(rows: readonly DocumentRow[]): AsyncGenerator<readonly DocumentRow[]> {
  yield rows;
}

