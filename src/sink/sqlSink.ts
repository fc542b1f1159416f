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
  pcaModelsTable,
  quoteIdent,
  resolveTable,
  resolveVectorType,
  validateDimensions,
  vectorTypeSql,
  distanceOperatorSql,
  resolveDistance,
  type ResolvedTable,
} from './identifiers.js';
import { checkNewModel, insertParams, isUuid, recordFromRow, type PcaModelRow } from './pcaModels.js';
import { assertCompatible, assertLoadable, readTableShape, schemaStatements } from './schema.js';
import { sqlFile } from './sqlFiles.js';
import type {
  DatabaseInfo,
  DocumentRow,
  LoadResult,
  NewPcaModel,
  PcaModelRecord,
  SearchHit,
  Sink,
  SinkSession,
  StoreKey,
  TableRef,
  TargetSpec,
  VectorType,
} from './types.js';

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
  source_index: number;
  distance: number;
  metadata: unknown;
}

/** A TargetSpec, validated once. */
interface Target {
  table: ResolvedTable;
  /** The PCA models table of the documents table's schema. */
  models: ResolvedTable;
  dimensions: number;
  vectorType: VectorType;
}

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
      if (shape.exists && shape.missingColumns.length > 0) assertCompatible(shape, t.table, t.dimensions, t.vectorType);
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
        willBeCreated: this.#db.willBeCreated,
      };
    });
  }

  async ensureSchema(target: TargetSpec): Promise<void> {
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
        // Checked before any DDL runs, so a mismatching table is refused with nothing written.
        assertCompatible(shape, t.table, t.dimensions, t.vectorType);
        const modelsExist = await relationExists(tx, t.models);
        for (const statement of schemaStatements(t.table, t.dimensions, t.vectorType, resolveDistance(target.distance), shape, modelsExist)) await tx.exec(statement);
      });
    });
  }

  async replaceStore(target: TargetSpec, key: StoreKey, batches: AsyncIterable<DocumentRow[]>): Promise<LoadResult> {
    const t = checkTarget(target);
    this.#assertWritable('load rows');
    return this.#guard('E_LOAD', storeContext(t, key), () => this.#db.transaction((tx) => this.#loadStore(tx, t, key, batches)));
  }

  async transaction<T>(target: TargetSpec, fn: (session: SinkSession) => Promise<T>): Promise<T> {
    const t = checkTarget(target);
    this.#assertWritable('rewrite a table');
    return this.#guard('E_LOAD', `transaction on ${t.table.display}`, () =>
      this.#db.transaction(async (tx) => {
        // Exclusive: loads of this table by other sessions (shared mode) wait until this commits,
        // so nothing interleaves with a rewrite of the whole table.
        await tx.query(sqlFile('queries/lock.sql'), [tableLockKey(t.table)]);
        const shape = await readTableShape(tx, t.table);
        if (!shape.exists) throw missingTable(t.table);
        assertCompatible(shape, t.table, t.dimensions, t.vectorType);
        assertLoadable(shape, t.table);

        const state = new SessionState();
        const session: SinkSession = {
          replaceStore: (storeTarget, key, batches) => state.run(() => this.#loadStore(tx, checkTarget(storeTarget), key, batches)),
          savePcaModel: (model) => state.run(() => this.#insertModel(tx, model)),
        };
        // Called through a promise so that a synchronous throw from `fn` also ends the session.
        return state.finish(Promise.resolve(session).then(fn));
      }),
    );
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
      const { rows } = await this.#db.query<SearchRow>(sqlFile('queries/search.sql', { table: table.quoted, vector_type: vectorTypeSql(vectorType), op: distanceOperatorSql(resolveDistance(target.distance)) }), [
        query.userId,
        query.collection ?? null,
        vectorText,
        query.k,
      ]);
      return rows.map((r) => ({
        id: r.id,
        userId: r.user_id,
        collection: r.collection_name,
        text: r.text,
        sourceIndex: Number(r.source_index),
        distance: Number(r.distance),
        metadata: r.metadata,
      }));
    });
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  /**
   * Replaces one store's rows inside `tx`: the body of Sink.replaceStore and of a session's
   * replaceStore. Staging + COPY, delete, insert, count check; the staging table is dropped at the
   * end so that the same transaction can load another store.
   */
  #loadStore(tx: DriverTransaction, t: Target, key: StoreKey, batches: AsyncIterable<DocumentRow[]>): Promise<LoadResult> {
    const store = `${key.userId}/${key.collection}`;
    return this.#guard('E_LOAD', storeContext(t, key), async () => {
      await tx.query(sqlFile('queries/lock_shared.sql'), [tableLockKey(t.table)]);
      await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate store ${t.table.regclassText} ${key.userId} ${key.collection}`]);
      const shape = await readTableShape(tx, t.table);
      if (!shape.exists) throw missingTable(t.table);
      assertCompatible(shape, t.table, t.dimensions, t.vectorType);
      assertLoadable(shape, t.table);

      await tx.exec(sqlFile('queries/create_staging.sql', { staging: STAGING, table: t.table.quoted }));
      const counted = { rows: 0 };
      const copied = await tx.copyBinary(STAGING, checkedBatches(batches, key, t.dimensions, counted), { vectorType: t.vectorType });
      if (copied !== counted.rows) {
        throw new MigrateError('E_LOAD', `${store}: the server staged ${copied} rows but ${counted.rows} were sent`);
      }
      const deleted = await tx.query(sqlFile('queries/delete_store.sql', { table: t.table.quoted }), [key.userId, key.collection]);
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

  #assertWritable(action: string): void {
    if (this.#db.readOnly) throw new MigrateError('E_USAGE', `the database at ${this.#db.location} was opened read-only (dry run); cannot ${action}`);
  }

  async #guard<T>(code: ErrorCode, context: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toSinkError(error, code, context, this.#db.secrets);
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

function checkTarget(target: TargetSpec): Target {
  validateDimensions(target.dimensions);
  const table = resolveTable(target.table);
  return { table, models: pcaModelsTable(table), dimensions: target.dimensions, vectorType: resolveVectorType(target.vectorType) };
}

/** Advisory-lock key of a whole table: shared by each store's load, exclusive for a rewrite. */
function tableLockKey(table: ResolvedTable): string {
  return `pgvector-migrate table ${table.regclassText}`;
}

function storeContext(t: Target, key: StoreKey): string {
  return `loading ${key.userId}/${key.collection} into ${t.table.display}`;
}

function missingTable(table: ResolvedTable): MigrateError {
  return new MigrateError('E_SCHEMA', `table ${table.display} does not exist; create it first (ensureSchema)`);
}

async function relationExists(db: SqlRunner, table: ResolvedTable): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(sqlFile('queries/relation_exists.sql'), [table.regclassText]);
  return rows[0]?.present === true;
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
