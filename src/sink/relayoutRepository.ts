/**
 * Re-layout side by side (Sink.relayout): the table's rows copied into the side table in the new
 * layout by SQL alone (relayout_*.sql: a cast, or subvector + l2_normalize), page by page, and
 * the swap, which is the re-embedding's (SideTableJobs): one owner for the job record and the renames.
 */
import { MigrateError } from '../errors.js';
import type { Guard } from './access.js';
import { COLUMN_SQL } from './columns.js';
import type { Driver, SqlRunner } from './driver.js';
import { distanceOperatorSql, opsSql, quoteIdent, validateDimensions, vectorTypeSql, type ResolvedTable, type SqlFragment } from './identifiers.js';
import type { Relayout, RelayoutProbe, RelayoutSwapResult, RelayoutTableStats, RelayoutTransform } from './relayout.js';
import { projectFunctionSql } from './pcaProjection.js';
import { SideTableJobs } from './sideTableJobs.js';
import { sqlFile } from './sqlFiles.js';
import type { LockOptions, NewReembedJob, ReembedJob, ReembedStoreCount, SpotCheck } from './types.js';

const PROBE = quoteIdent('pgvector_migrate_relayout_probe');

/** Thrown inside the dry run's probe transaction so that it rolls back; never escapes. */
class ProbeRollback extends Error {}

export class SqlRelayout implements Relayout {
  readonly #db: Driver;
  readonly #guard: Guard;
  readonly #table: ResolvedTable;
  readonly #jobs: SideTableJobs;

  constructor(db: Driver, guard: Guard, table: ResolvedTable) {
    this.#db = db;
    this.#guard = guard;
    this.#table = table;
    this.#jobs = new SideTableJobs(db, guard, table);
  }

  get sideTable(): string {
    return this.#jobs.side.display;
  }

  current(): Promise<ReembedJob | null> {
    return this.#jobs.job(this.#db, 'running');
  }

  start(job: NewReembedJob): Promise<ReembedJob> {
    return this.#jobs.start(job, 're-layout');
  }

  async stats(): Promise<RelayoutTableStats> {
    return this.#guard('E_LOAD', `measuring ${this.#table.display}`, async () => {
      const { rows } = await this.#db.query<Record<string, string | number>>(sqlFile('queries/relayout_table_stats.sql', { table: this.#table.quoted }), [this.#table.regclassText]);
      const r = rows[0] ?? {};
      return {
        rows: Number(r['rows'] ?? 0),
        stores: Number(r['stores'] ?? 0),
        pcaRows: Number(r['pca_rows'] ?? 0),
        totalBytes: Number(r['total_bytes'] ?? 0),
        rowBytes: Number(r['row_bytes'] ?? 0),
        embeddingBytes: Number(r['embedding_bytes'] ?? 0),
      };
    });
  }

  async sampleVectors(size: number, seed: number): Promise<Float32Array[]> {
    return this.#guard('E_LOAD', `sampling vectors of ${this.#table.display}`, async () => {
      const { rows } = await this.#db.query<{ embedding: string }>(sqlFile('queries/relayout_sample_vectors.sql', { table: this.#table.quoted }), [String(seed), size]);
      return rows.map((r) => Float32Array.from(JSON.parse(r.embedding) as number[]));
    });
  }

  async fingerprints(): Promise<string[]> {
    return this.#guard('E_LOAD', `reading the fingerprints of ${this.#table.display}`, () => this.#fingerprints(this.#db));
  }

  async copyPage(transform: RelayoutTransform, afterId: string | null, limit: number): Promise<{ listed: number; written: number; lastId: string | null }> {
    this.#jobs.assertWritable('copy rows');
    return this.#guard('E_LOAD', `copying rows of ${this.#table.display} into ${this.sideTable}`, () => this.#db.transaction((tx) => this.#copyPage(tx, transform, afterId, limit)));
  }

  async counts(transform: RelayoutTransform): Promise<{ total: number; done: number }> {
    return this.#guard('E_LOAD', `counting the copied rows of ${this.#table.display}`, async () => {
      const { rows } = await this.#db.query<{ total: string | number; done: string | number }>(sqlFile('queries/relayout_counts.sql', this.#values(transform)), this.#params(transform));
      return { total: Number(rows[0]?.total ?? 0), done: Number(rows[0]?.done ?? 0) };
    });
  }

  async prune(): Promise<number> {
    this.#jobs.assertWritable('prune the side table');
    return this.#guard('E_LOAD', `removing rows of ${this.sideTable} deleted from ${this.#table.display}`, async () => (await this.#db.query(this.#pruneSql())).rowCount);
  }

  async compare(transform: RelayoutTransform): Promise<ReembedStoreCount[]> {
    return this.#guard('E_LOAD', `comparing ${this.#table.display} with ${this.sideTable}`, () => this.#compare(this.#db, transform));
  }

  async spotCheck(job: ReembedJob): Promise<SpotCheck[]> {
    return this.#guard('E_LOAD', `spot-checking ${this.sideTable}`, async () => {
      const { rows } = await this.#db.query<{ id: string; user_id: string; collection_name: string; found_id: string | null; distance: number | null }>(
        sqlFile('queries/reembed_spot_check.sql', { side: this.#jobs.side.quoted, op: distanceOperatorSql(job.distance) }),
      );
      return rows.map((r) => ({ id: r.id, userId: r.user_id, collection: r.collection_name, foundId: r.found_id, distance: r.distance === null ? null : Number(r.distance) }));
    });
  }

  swap(job: ReembedJob, transformFor: (fingerprints: string[]) => RelayoutTransform, options: LockOptions = {}): Promise<RelayoutSwapResult> {
    return this.#jobs.swap(job, options, async (tx) => {
      const transform = transformFor(await this.#fingerprints(tx));
      let caughtUp = 0;
      let afterId: string | null = null;
      for (;;) {
        const page = await this.#copyPage(tx, transform, afterId, 1000);
        if (page.listed === 0) break;
        // Nothing else writes now: a row listed and not written would stay different.
        if (page.written !== page.listed) throw new MigrateError('E_REEMBED', `caught up ${page.written} of ${page.listed} rows under the swap's lock; nothing was swapped`);
        caughtUp += page.written;
        afterId = page.lastId;
      }
      const pruned = (await tx.query(this.#pruneSql())).rowCount;
      const { rows } = await tx.query<{ table_rows: string | number; side_rows: string | number; duplicate_ids: string | number }>(
        sqlFile('queries/relayout_totals.sql', { table: this.#table.quoted, side: this.#jobs.side.quoted }),
      );
      const totals = { table: Number(rows[0]?.table_rows ?? -1), side: Number(rows[0]?.side_rows ?? -2), duplicates: Number(rows[0]?.duplicate_ids ?? -1) };
      if (totals.table !== totals.side || totals.duplicates !== 0) {
        throw new MigrateError(
          'E_REEMBED',
          `${this.#table.display} has ${totals.table} rows and ${this.sideTable} ${totals.side} (${totals.duplicates} ids twice) after the catch-up under the swap's lock; nothing was swapped; run relayout again`,
        );
      }
      return { caughtUp, pruned };
    });
  }

  async probe(transform: RelayoutTransform, rows: number, distance: 'cosine' | 'l2'): Promise<RelayoutProbe> {
    if (!Number.isInteger(rows) || rows < 1) throw new MigrateError('E_INTERNAL', `probe size must be a positive integer, not ${rows}`);
    return this.#guard('E_LOAD', `timing a sample copy of ${this.#table.display}`, async () => {
      let result: RelayoutProbe | null = null;
      try {
        await this.#db.transaction(async (tx) => {
          const values = { ...this.#values(transform), probe: PROBE };
          await tx.exec(sqlFile('queries/relayout_probe_create.sql', values));
          const copyStarted = performance.now();
          const copied = await tx.query(sqlFile('queries/relayout_probe_copy.sql', values), [...this.#params(transform), rows]);
          const copyMs = performance.now() - copyStarted;
          const indexStarted = performance.now();
          await tx.exec(sqlFile('queries/relayout_probe_index.sql', { probe: PROBE, ops: opsSql(transform.vectorType, distance) }));
          result = { rows: copied.rowCount, copyMs, indexMs: performance.now() - indexStarted };
          // The dry run writes nothing: the probe goes with the transaction.
          throw new ProbeRollback();
        });
      } catch (error) {
        if (!(error instanceof ProbeRollback)) throw error;
      }
      if (result === null) throw new MigrateError('E_INTERNAL', 'the probe transaction ended without a measurement');
      return result;
    });
  }

  abort(job: ReembedJob): Promise<void> {
    return this.#jobs.abort(job);
  }

  async #copyPage(tx: SqlRunner, transform: RelayoutTransform, afterId: string | null, limit: number): Promise<{ listed: number; written: number; lastId: string | null }> {
    if (!Number.isInteger(limit) || limit < 1) throw new MigrateError('E_USAGE', `the page size must be a positive integer, not ${limit}`);
    const values = this.#values(transform);
    const { rows } = await tx.query<{ id: string }>(sqlFile('queries/relayout_pending.sql', values), [...this.#params(transform), afterId, limit]);
    if (rows.length === 0) return { listed: 0, written: 0, lastId: afterId };
    const ids = rows.map((r) => r.id);
    await tx.query(sqlFile('queries/relayout_clear.sql', { side: this.#jobs.side.quoted }), [ids]);
    const inserted = await tx.query(sqlFile('queries/relayout_insert.sql', values), [...this.#params(transform), ids]);
    return { listed: ids.length, written: inserted.rowCount, lastId: ids[ids.length - 1] ?? afterId };
  }

  async #compare(db: SqlRunner, transform: RelayoutTransform): Promise<ReembedStoreCount[]> {
    const { rows } = await db.query<{ user_id: string; collection_name: string; table_rows: string | number; side_rows: string | number; stale_rows: string | number }>(
      sqlFile('queries/relayout_compare.sql', this.#values(transform)),
      this.#params(transform),
    );
    return rows.map((r) => ({ userId: r.user_id, collection: r.collection_name, tableRows: Number(r.table_rows), sideRows: Number(r.side_rows), staleRows: Number(r.stale_rows) }));
  }

  async #fingerprints(db: SqlRunner): Promise<string[]> {
    const { rows } = await db.query<{ fingerprint: string | null }>(sqlFile('queries/table_fingerprints.sql', { table: this.#table.quoted }), [null]);
    return rows.flatMap((r) => (r.fingerprint === null ? [] : [r.fingerprint]));
  }

  #pruneSql(): string {
    return sqlFile('queries/reembed_prune.sql', { table: this.#table.quoted, side: this.#jobs.side.quoted });
  }

  /** The placeholders of every relayout_*.sql file, relayout_source.sql spliced in as {{source}}. */
  #values(transform: RelayoutTransform): Record<string, SqlFragment> {
    const source = sqlFile('queries/relayout_source.sql', {
      table: this.#table.quoted,
      dimensions: validateDimensions(transform.dimensions),
      vector_type: vectorTypeSql(transform.vectorType),
      relayout_kept: COLUMN_SQL.relayout_kept,
      pgvm_project: projectFunctionSql(this.#table),
    }) as SqlFragment;
    return {
      source,
      table: this.#table.quoted,
      side: this.#jobs.side.quoted,
      vector_type: vectorTypeSql(transform.vectorType),
      dimensions: validateDimensions(transform.dimensions),
      row_columns: COLUMN_SQL.row_columns,
      side_row: COLUMN_SQL.side_row,
      source_row: COLUMN_SQL.source_row,
    };
  }

  /** $1-$6 of relayout_source.sql. */
  #params(transform: RelayoutTransform): unknown[] {
    const { vector } = transform;
    return [
      vector.kind,
      transform.fingerprints.map((f) => f[0]),
      transform.fingerprints.map((f) => f[1]),
      transform.keepOtherFingerprints,
      vector.kind === 'pca' ? vector.modelId : null,
      this.#jobs.side.regclassText,
    ];
  }
}
