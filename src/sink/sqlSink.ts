/**
 * The Sink, written once over the Driver interface: both drivers run exactly the same SQL files,
 * so the pg and PGlite paths cannot drift apart in semantics.
 */
import pgvector from 'pgvector';
import { MigrateError, type ErrorCode } from '../errors.js';
import type { Driver } from './driver.js';
import { toSinkError } from './failures.js';
import { quoteIdent, resolveTable, validateDimensions, type ResolvedTable } from './identifiers.js';
import { assertCompatible, readTableShape, schemaStatements } from './schema.js';
import { sqlFile } from './sqlFiles.js';
import type { DatabaseInfo, DocumentRow, LoadResult, SearchHit, Sink, StoreKey, TargetSpec } from './types.js';

/** Session-local (temp) table name; ON COMMIT DROP makes it per transaction. */
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

export class SqlSink implements Sink {
  readonly #db: Driver;

  constructor(db: Driver) {
    this.#db = db;
  }

  get driver(): 'pg' | 'pglite' {
    return this.#db.name;
  }

  async inspect(target: TargetSpec): Promise<DatabaseInfo> {
    const table = checkTarget(target);
    return this.#guard('E_CONNECT', `inspecting ${this.#db.location}`, async () => {
      const server = await this.#serverInfo();
      const shape = await readTableShape(this.#db, table);
      // A table that cannot take any rows is reported now, in a dry run, not at the first store.
      if (shape.exists && shape.missingColumns.length > 0) assertCompatible(shape, table, target.dimensions);
      return {
        driver: this.#db.name,
        location: this.#db.location,
        serverVersion: server.server_version,
        pgvectorVersion: server.installed_version ?? server.available_version,
        // A database still to be created has nothing installed (the in-memory probe does not count).
        pgvectorInstalled: server.installed_version !== null && !this.#db.willBeCreated,
        tableExists: shape.exists,
        tableDimensions: shape.dimensions,
        willBeCreated: this.#db.willBeCreated,
      };
    });
  }

  async ensureSchema(target: TargetSpec): Promise<void> {
    const table = checkTarget(target);
    this.#assertWritable('create the schema');
    await this.#guard('E_SCHEMA', `creating table ${table.display} in ${this.#db.location}`, async () => {
      await this.#serverInfo();
      await this.#db.transaction(async (tx) => {
        await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate schema ${table.regclassText}`]);
        // Checked before any DDL runs, so a mismatching table is refused with nothing written.
        assertCompatible(await readTableShape(tx, table), table, target.dimensions);
        for (const statement of schemaStatements(table, target.dimensions)) await tx.exec(statement);
      });
    });
  }

  async replaceStore(target: TargetSpec, key: StoreKey, batches: AsyncIterable<DocumentRow[]>): Promise<LoadResult> {
    const table = checkTarget(target);
    this.#assertWritable('load rows');
    const store = `${key.userId}/${key.collection}`;
    return this.#guard('E_LOAD', `loading ${store} into ${table.display}`, () =>
      this.#db.transaction(async (tx) => {
        await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate store ${table.regclassText} ${key.userId} ${key.collection}`]);
        const shape = await readTableShape(tx, table);
        if (!shape.exists) throw new MigrateError('E_SCHEMA', `table ${table.display} does not exist; create it first (ensureSchema)`);
        assertCompatible(shape, table, target.dimensions);

        await tx.exec(sqlFile('queries/create_staging.sql', { staging: STAGING, table: table.quoted }));
        const counted = { rows: 0 };
        const copied = await tx.copyBinary(STAGING, checkedBatches(batches, key, target.dimensions, counted));
        if (copied !== counted.rows) {
          throw new MigrateError('E_LOAD', `${store}: the server staged ${copied} rows but ${counted.rows} were sent`);
        }
        const deleted = await tx.query(sqlFile('queries/delete_store.sql', { table: table.quoted }), [key.userId, key.collection]);
        const inserted = await tx.query(sqlFile('queries/insert_staged.sql', { table: table.quoted, staging: STAGING }));
        if (inserted.rowCount !== counted.rows) {
          throw new MigrateError('E_LOAD', `${store}: inserted ${inserted.rowCount} rows but ${counted.rows} were sent; rolled back`);
        }
        return { rowsLoaded: inserted.rowCount, rowsReplaced: deleted.rowCount };
      }),
    );
  }

  async search(target: TargetSpec, query: { userId: string; collection?: string; embedding: Float32Array; k: number }): Promise<SearchHit[]> {
    const table = checkTarget(target);
    if (query.embedding.length !== target.dimensions) {
      throw new MigrateError('E_DIM_MISMATCH', `query vector has ${query.embedding.length} dimensions; table ${table.display} expects ${target.dimensions}`);
    }
    if (!Number.isInteger(query.k) || query.k < 1) throw new MigrateError('E_USAGE', `k must be a positive integer, not ${query.k}`);
    return this.#guard('E_LOAD', `searching ${table.display}`, async () => {
      const vectorText = pgvector.toSql(Array.from(query.embedding)) as string;
      const { rows } = await this.#db.query<SearchRow>(sqlFile('queries/search.sql', { table: table.quoted }), [
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

function checkTarget(target: TargetSpec): ResolvedTable {
  validateDimensions(target.dimensions);
  return resolveTable(target.table);
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
