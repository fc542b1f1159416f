/**
 * Driver for PGlite (PostgreSQL compiled to WebAssembly, in this process) with pgvector: the
 * default when no database URL is given. Data lives in a directory on disk.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { encodeCopyPayload, type EncodeOptions } from './copyBinary.js';
import type { Driver, DriverTransaction, QueryResult, Row, SqlRunner } from './driver.js';
import { toSinkError } from './failures.js';
import type { SqlFragment } from './identifiers.js';
import { SqlSink } from './sqlSink.js';
import { sqlFile } from './sqlFiles.js';
import type { DocumentRow, Sink } from './types.js';

export interface PgliteSinkOptions {
  dataDir: string;
  readOnly?: boolean;
}

/**
 * Opens (or, unless read-only, creates) the PGlite database in `dataDir`.
 * Read-only over a directory that holds no database yet: nothing is created on disk; an
 * in-memory PGlite answers `inspect` (proving pgvector loads) and reports `willBeCreated`.
 */
export async function openPgliteSink(options: PgliteSinkOptions): Promise<Sink> {
  const dataDir = path.resolve(options.dataDir);
  const readOnly = options.readOnly ?? false;
  // PG_VERSION is the first file initdb writes: a directory without it holds no database.
  const exists = existsSync(path.join(dataDir, 'PG_VERSION'));
  const inMemory = readOnly && !exists;
  let db: PGlite | undefined;
  try {
    if (!inMemory) mkdirSync(dataDir, { recursive: true });
    db = inMemory ? new PGlite({ extensions: { vector } }) : new PGlite(dataDir, { extensions: { vector } });
    await db.waitReady;
    // Proves pgvector actually loads (not just that its files are listed); in memory only.
    if (inMemory) await db.exec(sqlFile('queries/create_extension.sql'));
    if (readOnly) await db.exec(sqlFile('queries/session_read_only.sql'));
  } catch (error) {
    if (db !== undefined && db.ready && !db.closed) await db.close().catch(() => undefined);
    throw toSinkError(error, 'E_CONNECT', `cannot open the PGlite database in ${dataDir}`, []);
  }
  return pgliteSinkFrom(db, { location: dataDir, readOnly, willBeCreated: inMemory });
}

/**
 * A Sink over an already open PGlite (which it closes on close()). Used by openPgliteSink, and
 * by tests that need to look at the same database the sink writes to (one process cannot open a
 * PGlite directory twice).
 */
export function pgliteSinkFrom(db: PGlite, options: { location: string; readOnly?: boolean; willBeCreated?: boolean }): Sink {
  return new SqlSink(new PgliteDriver(db, options.location, options.readOnly ?? false, options.willBeCreated ?? false));
}

class PgliteDriver implements Driver {
  readonly name = 'pglite' as const;
  readonly secrets: readonly string[] = [];
  readonly #db: PGlite;

  constructor(
    db: PGlite,
    readonly location: string,
    readonly readOnly: boolean,
    readonly willBeCreated: boolean,
  ) {
    this.#db = db;
  }

  query<R extends Row>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    return runQuery<R>(this.#db, text, params);
  }

  async exec(text: string): Promise<void> {
    await this.#db.exec(text);
  }

  transaction<T>(fn: (tx: DriverTransaction) => Promise<T>): Promise<T> {
    // PGlite's transaction() issues BEGIN/COMMIT, and ROLLBACK when fn throws, then rethrows.
    return this.#db.transaction((tx) => fn(new PgliteTransaction(tx)));
  }

  session<T>(fn: (session: SqlRunner) => Promise<T>): Promise<T> {
    // PGlite has one session: this driver itself.
    return fn(this);
  }

  async close(): Promise<void> {
    if (!this.#db.closed) await this.#db.close();
  }
}

class PgliteTransaction implements DriverTransaction {
  readonly #tx: Transaction;

  constructor(tx: Transaction) {
    this.#tx = tx;
  }

  readerDuringCopy(): SqlRunner {
    return this;
  }

  query<R extends Row>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    return runQuery<R>(this.#tx, text, params);
  }

  async exec(text: string): Promise<void> {
    await this.#tx.exec(text);
  }

  /**
   * One binary COPY per batch from PGlite's /dev/blob device (the `blob` query option), so only
   * one encoded batch exists at a time. (pglite-socket's COPY is broken; this path does not use it.)
   */
  async copyPayload(copy: { stdin: string; blob: string }, payload: Buffer): Promise<number> {
    const result = await this.#tx.query(copy.blob, [], { blob: new Blob([payload]) });
    return result.rowCount ?? result.affectedRows ?? 0;
  }

  async copyBinary(staging: SqlFragment, batches: AsyncIterable<readonly DocumentRow[]>, options: EncodeOptions): Promise<number> {
    const copySql = sqlFile('queries/copy_staging_blob.sql', { staging });
    let copied = 0;
    for await (const batch of batches) {
      const result = await this.#tx.query(copySql, [], { blob: new Blob([encodeCopyPayload(batch, options)]) });
      copied += result.rowCount ?? result.affectedRows ?? 0;
    }
    return copied;
  }
}

async function runQuery<R extends Row>(db: PGlite | Transaction, text: string, params: readonly unknown[]): Promise<QueryResult<R>> {
  const result = await db.query<R>(text, [...params]);
  return { rows: result.rows, rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length };
}
