/**
 * Re-embedding side by side (Sink.reembedding): the side table's rows, what is pending, the
 * writes and the checks of a `reembed` job. The job record, the swap that renames both tables in
 * one transaction, the swap-back and the abort are SideTableJobs' (shared with `relayout`).
 * Written over the Driver interface like the rest of the sink, so pg and PGlite run the same SQL files.
 */
import { MigrateError } from '../errors.js';
import type { Guard } from './access.js';
import type { Driver, DriverTransaction, SqlRunner } from './driver.js';
import { quoteIdent, distanceOperatorSql, type ResolvedTable, type SqlFragment } from './identifiers.js';
import { COLUMN_SQL } from './columns.js';
import { SideTableJobs } from './sideTableJobs.js';
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

export class SqlReembedding implements Reembedding {
  readonly #db: Driver;
  readonly #guard: Guard;
  readonly #table: ResolvedTable;
  readonly #side: ResolvedTable;
  readonly #jobs: SideTableJobs;

  constructor(db: Driver, guard: Guard, table: ResolvedTable) {
    this.#db = db;
    this.#guard = guard;
    this.#jobs = new SideTableJobs(db, guard, table);
    this.#table = table;
    this.#side = this.#jobs.side;
  }

  get sideTable(): string {
    return this.#side.display;
  }

  current(): Promise<ReembedJob | null> {
    return this.#jobs.job(this.#db, 'running');
  }

  lastSwapped(): Promise<ReembedJob | null> {
    return this.#jobs.job(this.#db, 'swapped');
  }

  start(job: NewReembedJob): Promise<ReembedJob> {
    return this.#jobs.start(job, 're-embedding');
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
    return this.#jobs.swap(job, options, async (tx) => {
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
      return { caughtUp, pruned, synced };
    });
  }

  abort(job: ReembedJob): Promise<void> {
    return this.#jobs.abort(job);
  }

  swapBack(options: LockOptions = {}): Promise<{ restored: string; sideTable: string; job: ReembedJob }> {
    return this.#jobs.swapBack(options);
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

  #pair(): Record<string, SqlFragment> {
    return { table: this.#table.quoted, side: this.#side.quoted };
  }

  #assertWritable(action: string): void {
    this.#jobs.assertWritable(action);
  }
}

async function* single(rows: readonly DocumentRow[]): AsyncGenerator<readonly DocumentRow[]> {
  yield rows;
}

