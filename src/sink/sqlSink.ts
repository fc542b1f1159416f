/**
 * The Sink, written once over the Driver interface: both drivers run exactly the same SQL files,
 * so the pg and PGlite paths cannot drift apart in semantics.
 */
import { randomUUID } from 'node:crypto';
import pgvector from 'pgvector';
import { MigrateError, type ErrorCode } from '../errors.js';
import type { Driver, DriverTransaction, SqlRunner } from './driver.js';
import { toSinkError } from './failures.js';
import {
  ledgerOf,
  ledgerTables,
  pcaModelsTable,
  quoteIdent,
  resolveTable,
  resolveVectorType,
  validateDimensions,
  vectorTypeSql,
  distanceOperatorSql,
  normFunctionSql,
  resolveDistance,
  type LedgerTables,
  type ResolvedTable,
} from './identifiers.js';
import {
  checkRunEnd,
  checkRunId,
  outcomeFromRow,
  outcomeParams,
  runFromRow,
  runParams,
  type NewRun,
  type OutcomeRow,
  type RunEnd,
  type RunRow,
} from './ledger.js';
import { storeLocks, tableIdentity, tableRewriteLock, takeLocks } from './locks.js';
import { applyMigrations, ledgerReady, ledgerVersion } from './migrations.js';
import { checkNewModel, insertParams, isUuid, recordFromRow, type PcaModelRow } from './pcaModels.js';
import { ensurePcaProjection, ensureProjectionTables, storeProjection } from './pcaProjection.js';
import { planReplacement, purgeReplacedRows, recordReplacement, replacedStores, rollbackStoreRows, type ReplacementPlan } from './replacements.js';
import { assertCompatible, assertLoadable, assertPcaModelColumn, assertPreviousCompatible, readTableShape, relationExists, schemaStatements, type TableShape } from './schema.js';
import { buildSearchIndex, readSearchIndex } from './searchIndex.js';
import { setupSearchDefaults, useIterativeScan } from './searchSettings.js';
import { SqlReembedding, type Guard } from './reembed.js';
import { sqlFile } from './sqlFiles.js';
import { assertPartitions, readTableLayout, rlsActive, rlsStatements } from './tableLayout.js';
import { checkTable, checkTarget, type Target } from './target.js';
import type {
  ApplicationRows,
  BuildSearchIndexOptions,
  DatabaseInfo,
  EnsureSchemaOptions,
  DocumentRow,
  EmbeddingFingerprint,
  LoadOptions,
  LoadResult,
  LockOptions,
  NewPcaModel,
  PcaModelRecord,
  Reembedding,
  RollbackResult,
  RowSource,
  RunRecord,
  SearchHit,
  SearchIndexState,
  SearchSetup,
  Sink,
  SinkSession,
  StoredRowOwner,
  StoredRowSummary,
  StoreKey,
  StoreOutcome,
  TableDiagnosis,
  TableRef,
  TargetSpec,
  VectorType,
} from './types.js';
import { decodeVectorSend } from './vectorSend.js';

/** Session-local (temp) table name; dropped after each store, and ON COMMIT DROP as a backstop. */
const STAGING = quoteIdent('pgvector_migrate_staging');

interface ServerInfoRow extends Record<string, unknown> {
  server_version: string;
  installed_version: string | null;
  available_version: string | null;
}

interface SearchRow extends Record<string, unknown> {
  id: string;
  user_id: string;
  collection_name: string;
  text: string;
  source_index: number | null;
  distance: number;
  metadata: unknown;
}

interface SummaryRow extends Record<string, unknown> {
  id: string;
  user_id: string;
  collection_name: string;
  source_index: number | null;
  content_sha256: string | null;
  text_sha256: string;
  embedding_model: string | null;
  pca_model_id: string | null;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export class SqlSink implements Sink {
  readonly #db: Driver;

  constructor(db: Driver) {
    this.#db = db;
  }

  get driver(): 'pg' | 'pglite' {
    return this.#db.name;
  }

  async inspect(target: TargetSpec): Promise<DatabaseInfo> {
    const t = checkTarget(target);
    return this.#guard('E_CONNECT', `inspecting ${this.#db.location}`, async () => {
      const server = await this.#serverInfo();
      const shape = await readTableShape(this.#db, t.table);
      // A table that cannot take any rows is reported now, in a dry run, not at the first store.
      // (A table only lacking pca_model_id is fine: ensureSchema adds it.)
      if (shape.exists && (shape.missingColumns.length > 0 || shape.columns.includes('replaced_by_run'))) assertCompatible(shape, t.table, t.dimensions, t.vectorType);
      // Likewise a table under the previous-rows table's name that is something else, checked
      // against the documents table's own type (a dimension mismatch is reported, not thrown).
      const previous = await readTableShape(this.#db, t.previous);
      assertPreviousCompatible(previous, t.table, shape.dimensions ?? t.dimensions, shape.vectorType ?? t.vectorType);
      // --partitions against a table of another layout: refused in a dry run already.
      const layout = await readTableLayout(this.#db, t.table);
      assertPartitions(layout, t.table, target.partitions);
      return {
        driver: this.#db.name,
        location: this.#db.location,
        serverVersion: server.server_version,
        pgvectorVersion: server.installed_version ?? server.available_version,
        // A database still to be created has nothing installed (the in-memory probe does not count).
        pgvectorInstalled: server.installed_version !== null && !this.#db.willBeCreated,
        tableExists: shape.exists,
        tableDimensions: shape.dimensions,
        tableVectorType: shape.vectorType,
        activePcaModelId: await this.#activeModelId(t.table, t.models),
        tablePartitions: layout.hashPartitions,
        tableRls: rlsActive(layout),
        willBeCreated: this.#db.willBeCreated,
        ledgerVersion: await ledgerVersion(this.#db, t.ledger),
        previousTable: t.previous.display,
        previousTableExists: previous.exists,
        searchIndex: (await readSearchIndex(this.#db, t.table)).state,
      };
    });
  }

  async ensureSchema(target: TargetSpec, options: EnsureSchemaOptions = {}): Promise<void> {
    const t = checkTarget(target);
    this.#assertWritable('create the schema');
    await this.#guard('E_SCHEMA', `creating table ${t.table.display} in ${this.#db.location}`, async () => {
      await this.#serverInfo();
      await this.#db.transaction(async (tx) => {
        await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate schema ${t.table.regclassText}`]);
        // The models table is shared by the schema's documents tables: two of them being set up
        // at once must not both try to create it (CREATE TABLE IF NOT EXISTS can still race).
        await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate schema ${t.models.regclassText}`]);
        const shape = await readTableShape(tx, t.table);
        const previous = await readTableShape(tx, t.previous);
        // Checked before any DDL runs, so a mismatching table is refused with nothing written.
        assertCompatible(shape, t.table, t.dimensions, t.vectorType);
        assertPreviousCompatible(previous, t.table, t.dimensions, t.vectorType);
        const layout = await readTableLayout(tx, t.table);
        assertPartitions(layout, t.table, target.partitions);
        const modelsExist = await relationExists(tx, t.models);
        for (const statement of schemaStatements(t.table, t.dimensions, t.vectorType, resolveDistance(target.distance), shape, modelsExist, previous, options.deferSearchIndex !== true, target.partitions)) {
          await tx.exec(statement);
        }
        await ensurePcaProjection(tx, t.table);
        // After the table exists (read again: it may have been created just now).
        if (target.rls === true) for (const statement of rlsStatements(await readTableLayout(tx, t.table), t.table)) await tx.exec(statement);
        // The schema-wide objects (the run ledger), under their own lock, in this transaction.
        await applyMigrations(tx, t.ledger);
      });
    });
  }

  async enableRls(target: TableRef): Promise<{ changed: boolean }> {
    const { table } = checkTable(target);
    this.#assertWritable('enable row-level security');
    return this.#guard('E_SCHEMA', `enabling row-level security on ${table.display} in ${this.#db.location}`, () =>
      this.#db.transaction(async (tx) => {
        // The same lock as ensureSchema: never two schema changes of one table at once.
        await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate schema ${table.regclassText}`]);
        const shape = await readTableShape(tx, table);
        if (!shape.exists) throw missingTable(table);
        // Only a documents table (not `<table>_previous`, not something else under that name).
        assertCompatible(shape, table, shape.dimensions ?? 1, shape.vectorType ?? 'vector');
        const statements = rlsStatements(await readTableLayout(tx, table), table);
        for (const statement of statements) await tx.exec(statement);
        return { changed: statements.length > 0 };
      }),
    );
  }

  async replaceStore(target: TargetSpec, key: StoreKey, batches: RowSource, options: LoadOptions = {}): Promise<LoadResult> {
    const t = checkTarget(target);
    this.#assertWritable('load rows');
    if (options.runId !== undefined) checkRunId(options.runId);
    return this.#guard('E_LOAD', storeContext(t, key), () => this.#db.transaction((tx) => this.#loadStore(tx, t, key, batches, options)));
  }

  async transaction<T>(target: TargetSpec, fn: (session: SinkSession) => Promise<T>, options: LockOptions = {}): Promise<T> {
    const t = checkTarget(target);
    this.#assertWritable('rewrite a table');
    return this.#guard('E_LOAD', `transaction on ${t.table.display}`, () =>
      this.#db.transaction(async (tx) => {
        // Exclusive: loads of this table by other sessions (shared mode) wait until this commits,
        // so nothing interleaves with a rewrite of the whole table.
        await takeLocks(tx, [tableRewriteLock(t.table, await tableIdentity(tx, t.table))], options);
        const shape = await readTableShape(tx, t.table);
        if (!shape.exists) throw missingTable(t.table);
        assertCompatible(shape, t.table, t.dimensions, t.vectorType);
        assertLoadable(shape, t.table);

        const state = new SessionState();
        const session: SinkSession = {
          replaceStore: (storeTarget, key, batches, loadOptions = {}) =>
            state.run(() => {
              if (loadOptions.runId !== undefined) checkRunId(loadOptions.runId);
              return this.#loadStore(tx, checkTarget(storeTarget), key, batches, loadOptions);
            }),
          savePcaModel: (model) => state.run(() => this.#insertModel(tx, model)),
        };
        // Called through a promise so that a synchronous throw from `fn` also ends the session.
        return state.finish(Promise.resolve(session).then(fn));
      }),
    );
  }

  async buildSearchIndex(target: TargetSpec, options: BuildSearchIndexOptions = {}): Promise<{ built: boolean; ms: number }> {
    const t = checkTarget(target);
    this.#assertWritable('build the search index');
    return this.#guard('E_SCHEMA', `building the HNSW index of ${t.table.display} in ${this.#db.location}`, async () => {
      const shape = await readTableShape(this.#db, t.table);
      if (!shape.exists) throw missingTable(t.table);
      // The index's operator class follows the column's type: a mismatching target is refused.
      assertCompatible(shape, t.table, t.dimensions, t.vectorType);
      return buildSearchIndex(this.#db, t, resolveDistance(target.distance), options);
    });
  }

  async searchIndexState(target: TableRef): Promise<SearchIndexState> {
    const table = resolveTable(target.table);
    return this.#guard('E_LOAD', `reading the HNSW index of ${table.display}`, async () => (await readSearchIndex(this.#db, table)).state);
  }

  async getPcaModel(target: TableRef): Promise<PcaModelRecord | null> {
    const table = resolveTable(target.table);
    const models = pcaModelsTable(table);
    return this.#guard('E_LOAD', `reading the PCA model of ${table.display}`, async () => {
      if (!(await relationExists(this.#db, models))) return null;
      const { rows } = await this.#db.query<PcaModelRow>(sqlFile('queries/pca_model_active.sql', { pca_models: models.quoted }), [table.name]);
      const row = rows[0];
      return row === undefined ? null : recordFromRow(row, target.table);
    });
  }

  async getPcaModelById(target: TableRef | string, id: string): Promise<PcaModelRecord | null> {
    const name = typeof target === 'string' ? target : target.table;
    const table = resolveTable(name);
    const models = pcaModelsTable(table);
    if (!isUuid(id)) throw new MigrateError('E_USAGE', `PCA model id ${JSON.stringify(id)} is not a UUID`);
    return this.#guard('E_LOAD', `reading PCA model ${id} of ${table.display}`, async () => {
      if (!(await relationExists(this.#db, models))) return null;
      const { rows } = await this.#db.query<PcaModelRow>(sqlFile('queries/pca_model_by_id.sql', { pca_models: models.quoted }), [table.name, id]);
      const row = rows[0];
      return row === undefined ? null : recordFromRow(row, name);
    });
  }

  async savePcaModel(model: NewPcaModel): Promise<PcaModelRecord> {
    this.#assertWritable('save a PCA model');
    return this.#guard('E_LOAD', `saving the PCA model of ${model.table}`, () => this.#db.transaction((tx) => this.#insertModel(tx, model)));
  }

  async listStoreKeys(target: TableRef): Promise<StoreKey[]> {
    const table = resolveTable(target.table);
    return this.#guard('E_LOAD', `listing the stores of ${table.display}`, async () => {
      if (!(await relationExists(this.#db, table))) return [];
      const { rows } = await this.#db.query<{ user_id: string; collection_name: string }>(sqlFile('queries/store_keys.sql', { table: table.quoted }));
      return rows.map((r) => ({ userId: r.user_id, collection: r.collection_name }));
    });
  }

  async applicationRows(target: TableRef): Promise<ApplicationRows[]> {
    const table = resolveTable(target.table);
    return this.#guard('E_LOAD', `counting the application rows of ${table.display}`, async () => {
      if (!(await relationExists(this.#db, table))) return [];
      return readApplicationRows(this.#db, table);
    });
  }

  async embeddingFingerprints(target: TableRef, userId?: string): Promise<{ fingerprint: string | null; rows: number }[]> {
    const { table } = checkTable(target);
    return this.#guard('E_LOAD', `reading the embedding fingerprints of ${table.display}`, async () => {
      const shape = await readTableShape(this.#db, table);
      if (!shape.hasFingerprintColumn) return [];
      const { rows } = await this.#db.query<{ fingerprint: string | null; rows: number }>(sqlFile('queries/table_fingerprints.sql', { table: table.quoted }), [userId ?? null]);
      return rows.map((r) => ({ fingerprint: r.fingerprint, rows: Number(r.rows) }));
    });
  }

  async search(target: TargetSpec, query: { userId: string; collection?: string; embedding: Float32Array; k: number }): Promise<SearchHit[]> {
    validateDimensions(target.dimensions);
    const table = resolveTable(target.table);
    const requested = target.vectorType === undefined ? null : resolveVectorType(target.vectorType);
    if (query.embedding.length !== target.dimensions) {
      throw new MigrateError('E_DIM_MISMATCH', `query vector has ${query.embedding.length} dimensions; table ${table.display} expects ${target.dimensions}`);
    }
    if (!Number.isInteger(query.k) || query.k < 1) throw new MigrateError('E_USAGE', `k must be a positive integer, not ${query.k}`);
    return this.#guard('E_LOAD', `searching ${table.display}`, async () => {
      const shape = await readTableShape(this.#db, table);
      if (!shape.exists) throw missingTable(table);
      // Without an explicit type the column's own is used: reading cannot go wrong either way.
      const vectorType = requested ?? shape.vectorType ?? 'vector';
      assertCompatible(shape, table, target.dimensions, vectorType);
      const vectorText = pgvector.toSql(Array.from(query.embedding)) as string;
      const rows = await this.#db.transaction(async (tx) => {
        await useIterativeScan(tx);
        const result = await tx.query<SearchRow>(sqlFile('queries/search.sql', { table: table.quoted, vector_type: vectorTypeSql(vectorType), op: distanceOperatorSql(resolveDistance(target.distance)) }), [
          query.userId,
          query.collection ?? null,
          vectorText,
          query.k,
        ]);
        return result.rows;
      });
      return rows.map((r) => ({
        id: r.id,
        userId: r.user_id,
        collection: r.collection_name,
        text: r.text,
        sourceIndex: r.source_index === null ? null : Number(r.source_index),
        distance: Number(r.distance),
        metadata: r.metadata,
      }));
    });
  }

  async analyze(target: TableRef): Promise<void> {
    const table = resolveTable(target.table);
    this.#assertWritable('analyze the table');
    await this.#guard('E_LOAD', `analyzing ${table.display}`, () => this.#db.exec(sqlFile('queries/analyze.sql', { table: table.quoted })));
  }

  async setupSearch(options: { role?: string }): Promise<SearchSetup> {
    this.#assertWritable('set search defaults');
    return this.#guard('E_SCHEMA', `setting the search defaults of ${this.#db.location}`, () => setupSearchDefaults(this.#db, options.role ?? null));
  }

  // ---- Run ledger ----

  async startRun(run: NewRun, ledgerRef?: TableRef): Promise<RunRecord> {
    const ledger = ledgerFor(ledgerRef);
    const params = runParams(run);
    this.#assertWritable('record a run');
    return this.#guard('E_LOAD', `recording run ${run.id} in ${ledger.runs.display}`, async () => {
      await this.#assertLedger(ledger);
      const { rows } = await this.#db.query<RunRow>(sqlFile('queries/run_insert.sql', ledger.sql), params);
      return runFromRow(firstRow(rows, 'run_insert.sql'));
    });
  }

  async recordStore(outcome: StoreOutcome): Promise<StoreOutcome> {
    const { table, ledger } = checkTable(outcome.table);
    const params = outcomeParams(outcome, table.name);
    this.#assertWritable('record a store outcome');
    return this.#guard('E_LOAD', `recording the outcome of ${outcome.userId}/${outcome.collection} in ${ledger.stores.display}`, async () => {
      await this.#assertLedger(ledger);
      await this.#assertRunKnown(ledger, outcome.runId);
      const { rows } = await this.#db.query<{ recorded_at: unknown }>(sqlFile('queries/store_outcome_insert.sql', ledger.sql), params);
      const recordedAt = firstRow(rows, 'store_outcome_insert.sql').recorded_at;
      return { ...outcome, recordedAt: recordedAt instanceof Date ? recordedAt.toISOString() : String(recordedAt) };
    });
  }

  async finishRun(id: string, status: RunEnd, ledgerRef?: TableRef): Promise<RunRecord> {
    const ledger = ledgerFor(ledgerRef);
    checkRunId(id);
    const end = checkRunEnd(status);
    this.#assertWritable('record a run');
    return this.#guard('E_LOAD', `finishing run ${id} in ${ledger.runs.display}`, async () => {
      await this.#assertLedger(ledger);
      const { rows } = await this.#db.query<RunRow>(sqlFile('queries/run_finish.sql', ledger.sql), [id, end]);
      const row = rows[0];
      if (row === undefined) throw unknownRun(ledger, id);
      return runFromRow(row);
    });
  }

  async getRun(id: string, ledgerRef?: TableRef): Promise<RunRecord | null> {
    const ledger = ledgerFor(ledgerRef);
    checkRunId(id);
    return this.#guard('E_LOAD', `reading run ${id} from ${ledger.runs.display}`, async () => {
      if (!(await relationExists(this.#db, ledger.runs))) return null;
      const { rows } = await this.#db.query<RunRow>(sqlFile('queries/run_get.sql', ledger.sql), [id]);
      const row = rows[0];
      return row === undefined ? null : runFromRow(row);
    });
  }

  async latestOutcomes(filter: { table: string; userId?: string; collection?: string }): Promise<StoreOutcome[]> {
    const { table, ledger } = checkTable(filter.table);
    return this.#guard('E_LOAD', `reading the ledger ${ledger.stores.display}`, async () => {
      if (!(await this.#ledgerReadable(ledger))) return [];
      const { rows } = await this.#db.query<OutcomeRow>(sqlFile('queries/store_outcomes_latest.sql', ledger.sql), [
        table.name,
        filter.userId ?? null,
        filter.collection ?? null,
      ]);
      return rows.map((r) => outcomeFromRow(r, filter.table));
    });
  }

  async lastSuccessfulLoad(target: TableRef | string, key: StoreKey): Promise<StoreOutcome | null> {
    const name = typeof target === 'string' ? target : target.table;
    const { table, ledger } = checkTable(name);
    return this.#guard('E_LOAD', `reading the ledger ${ledger.stores.display}`, async () => {
      if (!(await this.#ledgerReadable(ledger))) return null;
      const { rows } = await this.#db.query<OutcomeRow>(sqlFile('queries/store_outcome_last_ok.sql', ledger.sql), [table.name, key.userId, key.collection]);
      const row = rows[0];
      return row === undefined ? null : outcomeFromRow(row, name);
    });
  }

  // ---- Replaced rows and rollback ----

  async rollbackStore(target: TableRef, key: StoreKey, runId: string, options: LockOptions = {}): Promise<RollbackResult> {
    const t = checkTable(target);
    checkRunId(runId);
    this.#assertWritable('roll back a store');
    return this.#guard('E_ROLLBACK', `rolling back run ${runId} for ${key.userId}/${key.collection} of ${t.table.display}`, () =>
      this.#db.transaction(async (tx) => {
        // The same locks as a load of the store: no load, rollback or refit of it meanwhile.
        await takeLocks(tx, storeLocks(t.table, await tableIdentity(tx, t.table), key), options);
        return rollbackStoreRows(tx, t, key, runId);
      }),
    );
  }

  async storesReplacedBy(target: TableRef, runId: string): Promise<StoreKey[]> {
    const t = checkTable(target);
    checkRunId(runId);
    return this.#guard('E_LOAD', `reading the stores run ${runId} replaced in ${t.table.display}`, () => replacedStores(this.#db, t, runId));
  }

  async purgePrevious(target: TableRef, olderThanDays: number): Promise<number> {
    const t = checkTable(target);
    if (typeof olderThanDays !== 'number' || !Number.isFinite(olderThanDays) || olderThanDays < 0) {
      throw new MigrateError('E_USAGE', `the age of the rows to purge must be a number of days >= 0, not ${String(olderThanDays)}`);
    }
    this.#assertWritable('purge replaced rows');
    return this.#guard('E_LOAD', `purging ${t.previous.display}`, () => this.#db.transaction((tx) => purgeReplacedRows(tx, t, olderThanDays)));
  }

  // ---- Reads for reuse and verification ----

  async lookupEmbeddings(target: TableRef, key: StoreKey, shas: readonly string[], fingerprint: EmbeddingFingerprint): Promise<Map<string, Float32Array>> {
    const { table } = checkTable(target);
    return this.#lookup(this.#db, table, target, key, shas, fingerprint);
  }

  async readStoreSummaries(target: TableRef, key: StoreKey): Promise<StoredRowSummary[]> {
    const { table } = checkTable(target);
    return this.#guard('E_LOAD', `reading the rows of ${key.userId}/${key.collection} from ${table.display}`, async () => {
      const shape = await readTableShape(this.#db, table);
      if (!shape.exists) return [];
      assertReadable(shape, table);
      const { rows } = await this.#db.query<SummaryRow>(sqlFile('queries/store_summaries.sql', { table: table.quoted }), [key.userId, key.collection]);
      return rows.map((r) => ({
        id: r.id,
        userId: r.user_id,
        collection: r.collection_name,
        sourceIndex: r.source_index === null ? null : Number(r.source_index),
        contentSha256: r.content_sha256,
        textSha256: r.text_sha256,
        embeddingModel: r.embedding_model,
        pcaModelId: r.pca_model_id,
      }));
    });
  }

  async readRowsByIds(target: TableRef, ids: readonly string[]): Promise<StoredRowOwner[]> {
    const { table } = checkTable(target);
    for (const id of ids) {
      if (typeof id !== 'string' || !isUuid(id)) throw new MigrateError('E_USAGE', `row id ${JSON.stringify(id)} is not a UUID`);
    }
    if (ids.length === 0) return [];
    return this.#guard('E_LOAD', `reading rows of ${table.display} by id`, async () => {
      if (!(await relationExists(this.#db, table))) return [];
      const { rows } = await this.#db.query<{ id: string; user_id: string; collection_name: string }>(sqlFile('queries/rows_by_ids.sql', { table: table.quoted }), [
        [...new Set(ids.map((id) => id.toLowerCase()))],
      ]);
      return rows.map((r) => ({ id: r.id, userId: r.user_id, collection: r.collection_name }));
    });
  }

  async diagnose(target: TableRef, opts: { normTolerance?: number; examples?: number } = {}): Promise<TableDiagnosis> {
    const { table } = checkTable(target);
    const { tolerance, examples } = diagnosisOptions(opts);
    return this.#guard('E_LOAD', `diagnosing ${table.display}`, async () => {
      const shape = await readTableShape(this.#db, table);
      if (!shape.exists) throw missingTable(table);
      // Every check needs the columns it reads and an embedding of a known type (for its norm function).
      assertCompatible(shape, table, shape.dimensions ?? 1, shape.vectorType ?? 'vector');
      const vectorType = shape.vectorType ?? 'vector';
      const values = { table: table.quoted, norm: normFunctionSql(vectorType) };
      // Separate statements, not one snapshot: under concurrent loads the figures may disagree
      // slightly with each other; doctor is meant for a table at rest.
      let fingerprints: TableDiagnosis['fingerprints'];
      if (shape.hasFingerprintColumn) {
        const { rows } = await this.#db.query<{ fingerprint: string | null; rows: number }>(sqlFile('queries/diagnose_fingerprints.sql', values));
        fingerprints = rows.map((r) => ({ fingerprint: r.fingerprint, rows: Number(r.rows) }));
      } else {
        // A table from before fingerprints (not yet through ensureSchema): all of its rows have none.
        const { rows } = await this.#db.query<{ rows: number }>(sqlFile('queries/diagnose_rows.sql', values));
        const n = Number(rows[0]?.rows ?? 0);
        fingerprints = n === 0 ? [] : [{ fingerprint: null, rows: n }];
      }
      const zero = await this.#db.query<ExamplesRow>(sqlFile('queries/diagnose_zero_vectors.sql', values), [examples]);
      const off = await this.#db.query<ExamplesRow>(sqlFile('queries/diagnose_non_normalized.sql', values), [tolerance, examples]);
      const dup = await this.#db.query<DuplicatesRow>(sqlFile('queries/diagnose_duplicate_texts.sql', values), [examples]);
      const empty = await this.#db.query<ExamplesRow>(sqlFile('queries/diagnose_missing_text.sql', values), [examples]);
      const duplicates = dup.rows[0];
      const applicationRows = (await readApplicationRows(this.#db, table)).reduce((sum, s) => sum + s.rows, 0);
      return {
        table: table.display,
        rows: fingerprints.reduce((sum, f) => sum + f.rows, 0) + applicationRows,
        fingerprints,
        zeroVectors: counted(zero.rows[0]),
        nonNormalized: { ...counted(off.rows[0]), tolerance },
        duplicateTexts: {
          groups: Number(duplicates?.groups ?? 0),
          rows: Number(duplicates?.rows ?? 0),
          examples: (duplicates?.examples ?? []).map((e) => ({ userId: e.userId, contentSha256: e.contentSha256, rows: Number(e.rows) })),
        },
        missingText: counted(empty.rows[0]),
        applicationRows,
      };
    });
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  /**
   * Sink.lookupEmbeddings over `db`: the sink's own connection(s), or the reader a load's
   * transaction provides while it streams (EmbeddingLookup).
   */
  reembedding(table: TableRef): Reembedding {
    const guard: Guard = (code, context, fn) => this.#guard(code, context, fn);
    return new SqlReembedding(this.#db, guard, checkTable(table).table);
  }

  async #lookup(
    db: SqlRunner,
    table: ResolvedTable,
    target: TableRef,
    key: StoreKey,
    shas: readonly string[],
    fingerprint: EmbeddingFingerprint,
  ): Promise<Map<string, Float32Array>> {
    for (const sha of shas) {
      if (typeof sha !== 'string' || !SHA256_HEX.test(sha)) throw new MigrateError('E_USAGE', `content hash ${JSON.stringify(sha)} is not 64 lower-case hex digits`);
    }
    if (typeof fingerprint.embeddingModel !== 'string') throw new MigrateError('E_USAGE', 'the embedding fingerprint lacks the embedding model');
    if (fingerprint.pcaModelId !== null && !isUuid(fingerprint.pcaModelId)) throw new MigrateError('E_USAGE', `PCA model id ${JSON.stringify(fingerprint.pcaModelId)} is not a UUID`);
    const found = new Map<string, Float32Array>();
    if (shas.length === 0) return found;
    return this.#guard('E_LOAD', `reading the stored embeddings of ${key.userId}/${key.collection} from ${table.display}`, async () => {
      const shape = await readTableShape(db, table);
      // No table, or one from before pca_model_id (its rows cannot match a fingerprint exactly):
      // nothing to reuse.
      if (!shape.exists || !shape.hasPcaModelColumn) return found;
      // A full fingerprint cannot be matched on a table from before fingerprints: reuse nothing.
      if (fingerprint.embeddingFingerprint !== undefined && !shape.hasFingerprintColumn) return found;
      const vectorType = readableVectorType(shape, table, target);
      const { rows } = await db.query<{ content_sha256: string; embedding: unknown }>(
        sqlFile('queries/lookup_embeddings.sql', { table: table.quoted, vector_type: vectorTypeSql(vectorType) }),
        [key.userId, key.collection, [...new Set(shas)], fingerprint.embeddingModel, fingerprint.pcaModelId, fingerprint.embeddingFingerprint ?? null],
      );
      for (const row of rows) found.set(row.content_sha256, decodeVectorSend(row.embedding, vectorType));
      return found;
    });
  }

  /**
   * Replaces one store's rows inside `tx`: the body of Sink.replaceStore and of a session's
   * replaceStore. Locks, checks, staging + COPY, (with a run id: the old rows saved to
   * `_previous`), delete, insert, count checks; the staging table is dropped at the end so that
   * the same transaction can load another store.
   */
  #loadStore(tx: DriverTransaction, t: Target, key: StoreKey, source: RowSource, options: LoadOptions): Promise<LoadResult> {
    const store = `${key.userId}/${key.collection}`;
    return this.#guard('E_LOAD', storeContext(t, key), async () => {
      await takeLocks(tx, storeLocks(t.table, await tableIdentity(tx, t.table), key), options);
      const shape = await readTableShape(tx, t.table);
      if (!shape.exists) throw missingTable(t.table);
      assertCompatible(shape, t.table, t.dimensions, t.vectorType);
      assertLoadable(shape, t.table);
      // Checked before any row is sent (and embedded): a run that could not keep what it
      // replaces fails now, not after the whole store went through the model.
      const runId = options.runId;
      const plan: ReplacementPlan | null = runId === undefined ? null : await planReplacement(tx, t, key, runId);

      const spec: TargetSpec = { table: t.table.display, dimensions: t.dimensions, vectorType: t.vectorType };
      const reader = tx.readerDuringCopy();
      const batches = typeof source === 'function' ? source((shas, fingerprint) => this.#lookup(reader, t.table, spec, key, shas, fingerprint)) : source;
      const { rows: how } = await tx.query<{ direct: boolean }>(sqlFile('queries/store_direct_load.sql', { table: t.table.quoted }), [t.table.regclassText, key.userId, key.collection]);
      if (how[0]?.direct === true) {
        // Nothing to replace: the rows are COPYed straight into the table, written once instead
        // of twice (staging, then INSERT ... SELECT): measured 1.4x faster (BENCHMARKS.md).
        // The replacement is still recorded (with no rows saved) so that rollback empties the store.
        const saved = runId === undefined || plan === null ? null : await recordReplacement(tx, t, key, runId, plan);
        if (saved !== null && saved !== 0) throw new MigrateError('E_LOAD', `${store}: rows appeared in the store while it was being loaded; rolled back`);
        const sent = { rows: 0 };
        const loaded = await tx.copyBinary(t.table.quoted, checkedBatches(batches, key, t.dimensions, sent), { vectorType: t.vectorType });
        if (loaded !== sent.rows) throw new MigrateError('E_LOAD', `${store}: the server loaded ${loaded} rows but ${sent.rows} were sent; rolled back`);
        return { rowsLoaded: loaded, rowsReplaced: 0 };
      }
      await tx.exec(sqlFile('queries/create_staging.sql', { staging: STAGING, table: t.table.quoted }));
      const counted = { rows: 0 };
      const copied = await tx.copyBinary(STAGING, checkedBatches(batches, key, t.dimensions, counted), { vectorType: t.vectorType });
      if (copied !== counted.rows) {
        throw new MigrateError('E_LOAD', `${store}: the server staged ${copied} rows but ${counted.rows} were sent`);
      }
      const saved = runId === undefined || plan === null ? null : await recordReplacement(tx, t, key, runId, plan);
      const deleted = await tx.query(sqlFile('queries/delete_store.sql', { table: t.table.quoted }), [key.userId, key.collection]);
      if (saved !== null && saved !== deleted.rowCount) {
        throw new MigrateError('E_LOAD', `${store}: kept ${saved} replaced rows but deleted ${deleted.rowCount}; rolled back`);
      }
      const inserted = await tx.query(sqlFile('queries/insert_staged.sql', { table: t.table.quoted, staging: STAGING }));
      if (inserted.rowCount !== counted.rows) {
        throw new MigrateError('E_LOAD', `${store}: inserted ${inserted.rowCount} rows but ${counted.rows} were sent; rolled back`);
      }
      await tx.exec(sqlFile('queries/drop_staging.sql', { staging: STAGING }));
      return { rowsLoaded: inserted.rowCount, rowsReplaced: deleted.rowCount };
    });
  }

  /** Retires the table's active model and inserts `model` as active, inside `tx`. */
  #insertModel(tx: DriverTransaction, model: NewPcaModel): Promise<PcaModelRecord> {
    return this.#guard('E_LOAD', `saving the PCA model of ${model.table}`, async () => {
      const table = resolveTable(model.table);
      const models = pcaModelsTable(table);
      checkNewModel(model);
      // Two fits of one table saving at once: the second waits, then retires the first's model.
      await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate pca ${models.regclassText} ${table.name}`]);
      if (!(await relationExists(tx, models))) {
        throw new MigrateError('E_SCHEMA', `the PCA models table ${models.display} does not exist; create the schema of ${table.display} first (ensureSchema)`);
      }
      const shape = await readTableShape(tx, table);
      if (shape.dimensions !== null && shape.dimensions !== model.targetDimensions) {
        throw new MigrateError(
          'E_DIM_MISMATCH',
          `the PCA model projects to ${model.targetDimensions} dimensions but table ${table.display} holds ${shape.vectorType ?? 'vector'}(${shape.dimensions})`,
        );
      }
      const id = randomUUID();
      await tx.query(sqlFile('queries/pca_model_deactivate.sql', { pca_models: models.quoted }), [table.name]);
      const { rows } = await tx.query<{ created_at: unknown }>(sqlFile('queries/pca_model_insert.sql', { pca_models: models.quoted }), insertParams(id, table.name, model));
      // pgvm_project's copy of the model, so SQL clients project with the active model too.
      await ensureProjectionTables(tx, table);
      await storeProjection(tx, table, id, model);
      const createdAt = rows[0]?.created_at;
      return { ...model, id, createdAt: createdAt instanceof Date ? createdAt.toISOString() : String(createdAt) };
    });
  }

  async #activeModelId(table: ResolvedTable, models: ResolvedTable): Promise<string | null> {
    if (!(await relationExists(this.#db, models))) return null;
    const { rows } = await this.#db.query<{ id: string }>(sqlFile('queries/pca_model_active_id.sql', { pca_models: models.quoted }), [table.name]);
    return rows[0]?.id ?? null;
  }

  /** Server version and pgvector state; E_CONNECT when pgvector is neither installed nor installable. */
  async #serverInfo(): Promise<ServerInfoRow> {
    const { rows } = await this.#db.query<ServerInfoRow>(sqlFile('queries/server_info.sql'));
    const info = rows[0];
    if (info === undefined) throw new MigrateError('E_INTERNAL', 'server_info.sql returned no row');
    if (info.installed_version === null && info.available_version === null) {
      throw new MigrateError(
        'E_CONNECT',
        `pgvector is not available on ${this.#db.location} (PostgreSQL ${info.server_version}): install the extension on the server (see scripts/setup-postgres.sh)`,
      );
    }
    return info;
  }

  /** E_SCHEMA unless the ledger of that schema exists and is at this version's migration. */
  async #assertLedger(ledger: LedgerTables): Promise<void> {
    if (!(await ledgerReady(this.#db, ledger))) {
      throw new MigrateError('E_SCHEMA', `the run ledger ${ledger.runs.display} does not exist (or is older than this version); create the schema first (ensureSchema)`);
    }
  }

  async #assertRunKnown(ledger: LedgerTables, id: string): Promise<void> {
    const { rows } = await this.#db.query<{ present: boolean }>(sqlFile('queries/run_exists.sql', ledger.sql), [id]);
    if (rows[0]?.present !== true) throw unknownRun(ledger, id);
  }

  /** Whether the ledger's outcome reads can run (both tables they join exist). Creates nothing. */
  async #ledgerReadable(ledger: LedgerTables): Promise<boolean> {
    return (await relationExists(this.#db, ledger.stores)) && (await relationExists(this.#db, ledger.replacements));
  }

  #assertWritable(action: string): void {
    if (this.#db.readOnly) throw new MigrateError('E_USAGE', `the database at ${this.#db.location} was opened read-only (dry run); cannot ${action}`);
  }

  async #guard<T>(code: ErrorCode, context: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toSinkError(error, code, context, this.#db.secrets, this.#db);
    }
  }
}

/**
 * Keeps a transaction's session honest: operations run one at a time (they share one
 * connection), none after the transaction ended, and none after one failed. A failed operation
 * dooms the transaction even if `fn` catches its error: a half-done store (rows deleted, say)
 * must never be committed.
 */
class SessionState {
  #open = true;
  #busy = false;
  #failure: { error: unknown } | null = null;

  async run<T>(operation: () => Promise<T>): Promise<T> {
    if (!this.#open) throw new MigrateError('E_INTERNAL', 'the transaction has ended; its session cannot be used any more');
    if (this.#busy) throw new MigrateError('E_INTERNAL', 'operations of one transaction must run one after another (await each before starting the next)');
    if (this.#failure !== null) throw new MigrateError('E_INTERNAL', 'an earlier operation of this transaction failed; the transaction will be rolled back');
    this.#busy = true;
    try {
      return await operation();
    } catch (error) {
      this.#failure = { error };
      throw error;
    } finally {
      this.#busy = false;
    }
  }

  /** The result of the transaction's function, or a throw (and so a rollback) if anything failed. */
  async finish<T>(work: Promise<T>): Promise<T> {
    try {
      const result = await work;
      if (this.#failure !== null) throw this.#failure.error;
      if (this.#busy) throw new MigrateError('E_INTERNAL', 'the transaction function returned while one of its operations was still running');
      return result;
    } finally {
      this.#open = false;
    }
  }
}

/** The ledger a run's calls name: that table's schema, or the search_path's first. */
function ledgerFor(ref: TableRef | undefined): LedgerTables {
  return ref === undefined ? ledgerTables(null) : ledgerOf(resolveTable(ref.table));
}

function unknownRun(ledger: LedgerTables, id: string): MigrateError {
  return new MigrateError('E_USAGE', `run ${id} is not in the ledger ${ledger.runs.display}; start it there first (startRun with the same table)`);
}

function firstRow<R>(rows: R[], file: string): R {
  const row = rows[0];
  if (row === undefined) throw new MigrateError('E_INTERNAL', `${file} returned no row`);
  return row;
}

/** Reads need every column they select: E_SCHEMA naming what is missing. */
function assertReadable(shape: TableShape, table: ResolvedTable): void {
  if (shape.missingColumns.length > 0) assertCompatible(shape, table, shape.dimensions ?? 1, shape.vectorType ?? 'vector');
  // The reads select pca_model_id but not embedding_fingerprint: a table still without the latter
  // (not yet through ensureSchema) can be read and verified.
  assertPcaModelColumn(shape, table);
}

/** Default of `normTolerance`: float32 rounding of a unit vector stays far below it; float16 (halfvec) too. */
const DEFAULT_NORM_TOLERANCE = 1e-3;
const DEFAULT_EXAMPLES = 5;
/** Examples are for a person to look up, not an export. */
const MAX_EXAMPLES = 1000;

function diagnosisOptions(opts: { normTolerance?: number; examples?: number }): { tolerance: number; examples: number } {
  const tolerance = opts.normTolerance ?? DEFAULT_NORM_TOLERANCE;
  const examples = opts.examples ?? DEFAULT_EXAMPLES;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    throw new MigrateError('E_USAGE', `the norm tolerance must be a finite number >= 0, not ${String(tolerance)}`);
  }
  if (typeof examples !== 'number' || !Number.isInteger(examples) || examples < 0 || examples > MAX_EXAMPLES) {
    throw new MigrateError('E_USAGE', `the number of examples must be an integer from 0 to ${MAX_EXAMPLES}, not ${String(examples)}`);
  }
  return { tolerance, examples };
}

interface ExamplesRow extends Record<string, unknown> {
  rows: number;
  examples: string[];
}

interface DuplicatesRow extends Record<string, unknown> {
  groups: number;
  rows: number;
  /** json_agg: parsed by both drivers. */
  examples: { userId: string; contentSha256: string; rows: number }[];
}

function counted(row: ExamplesRow | undefined): { rows: number; examples: string[] } {
  return { rows: Number(row?.rows ?? 0), examples: [...(row?.examples ?? [])] };
}

/**
 * The embedding column's type (or the target's, when it names one), checked against the target's
 * dimension when the caller gave one (a TargetSpec): reused vectors must fit the rows about to be
 * loaded. E_SCHEMA for a column that is neither vector(n) nor halfvec(n).
 */
function readableVectorType(shape: TableShape, table: ResolvedTable, target: TableRef): VectorType {
  const dimensions = 'dimensions' in target ? target.dimensions : (shape.dimensions ?? 1);
  const vectorType = 'dimensions' in target && target.vectorType !== undefined ? resolveVectorType(target.vectorType) : (shape.vectorType ?? 'vector');
  assertCompatible(shape, table, dimensions, vectorType);
  return vectorType;
}

async function readApplicationRows(db: SqlRunner, table: ResolvedTable): Promise<ApplicationRows[]> {
  const { rows } = await db.query<{ user_id: string; collection_name: string; rows: number }>(sqlFile('queries/application_rows.sql', { table: table.quoted }));
  return rows.map((r) => ({ userId: r.user_id, collection: r.collection_name, rows: Number(r.rows) }));
}

function storeContext(t: Target, key: StoreKey): string {
  return `loading ${key.userId}/${key.collection} into ${t.table.display}`;
}

function missingTable(table: ResolvedTable): MigrateError {
  return new MigrateError('E_SCHEMA', `table ${table.display} does not exist; create it first (ensureSchema)`);
}

/**
 * Passes the batches through, refusing rows that belong to another store (they would escape the
 * DELETE that replaces this one) or have another dimension, and counting what is sent.
 */
async function* checkedBatches(
  batches: AsyncIterable<readonly DocumentRow[]>,
  key: StoreKey,
  dimensions: number,
  counted: { rows: number },
): AsyncGenerator<readonly DocumentRow[]> {
  for await (const batch of batches) {
    for (const row of batch) {
      if (row.userId !== key.userId || row.collection !== key.collection) {
        throw new MigrateError('E_LOAD', `row ${row.sourceIndex} belongs to ${row.userId}/${row.collection}, not to the store ${key.userId}/${key.collection} being loaded`);
      }
      if (row.embedding.length !== dimensions) {
        throw new MigrateError('E_DIM_MISMATCH', `row ${row.sourceIndex} of ${key.userId}/${key.collection} has ${row.embedding.length} dimensions; the table expects ${dimensions}`);
      }
    }
    counted.rows += batch.length;
    if (batch.length > 0) yield batch;
  }
}
