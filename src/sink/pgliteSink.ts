/**
 * Driver for PGlite (PostgreSQL compiled to WebAssembly, in this process) with pgvector: the
 * default when no database URL is given. Data lives in a directory on disk.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { encodeCopyPayload, type EncodeOptions } from './copyBinary.js';
import { lockDirectory } from './directoryLock.js';
import { ensureFreeSpace, RESERVE_BYTES, WRITE_AMPLIFICATION } from './diskSpace.js';
import type { Driver, DriverTransaction, QueryResult, Row, SqlRunner } from './driver.js';
import { toSinkError } from './failures.js';
import type { SqlFragment } from './identifiers.js';
import { createSink } from './sink.js';
import { COLUMN_SQL } from './columns.js';
import { sqlFile } from './sqlFiles.js';
import type { Sink } from './sink.js';
import type { DocumentRow } from './types.js';

export interface PgliteSinkOptions {
  dataDir: string;
  readOnly?: boolean;
  /** The command opening the directory, recorded in its lock for whoever finds it taken. */
  purpose?: string;
  /** Wait for another process holding the directory instead of failing with E_LOCKED. */
  wait?: boolean;
  onLockWait?: ((notice: string) => void) | undefined;
}

/**
 * Opens (or, unless read-only, creates) the PGlite database in `dataDir`, holding the
 * directory's lock (directoryLock.ts) until close().
 * Read-only over a directory that holds no database yet: nothing is created on disk; an
 * in-memory PGlite answers `inspect` (proving pgvector loads) and reports `willBeCreated`.
 *
 * Read-only over an existing database: PostgreSQL writes even when nothing is changed (startup
 * updates global/pg_control, shutdown writes a checkpoint to the WAL), so a read-only command
 * opens a private copy of the directory, taken under the lock (a consistent state: no writer is
 * running meanwhile) and removed on close. Holding the lock only for the copy, not the whole
 * command, lets a `query` that loads a model for a minute not block a migration; refusing while a
 * writer holds it (E_LOCKED, or waiting under --wait) is what keeps the copy consistent.
 */
export async function openPgliteSink(options: PgliteSinkOptions): Promise<Sink> {
  const dataDir = path.resolve(options.dataDir);
  const readOnly = options.readOnly ?? false;
  const lock = await lockDirectory(dataDir, { purpose: options.purpose ?? 'pgvector-migrate', wait: options.wait ?? false, onWait: options.onLockWait });
  // PG_VERSION is the first file initdb writes: a directory without it holds no database.
  const exists = existsSync(path.join(dataDir, 'PG_VERSION'));
  const inMemory = readOnly && !exists;
  let db: PGlite | undefined;
  let snapshot: string | null = null;
  const cleanup = async () => {
    lock?.release();
    if (snapshot !== null) await rm(snapshot, { recursive: true, force: true });
  };
  try {
    if (readOnly && exists) {
      snapshot = await mkdtemp(path.join(tmpdir(), 'pgvector-migrate-snapshot-'));
      await cp(dataDir, snapshot, { recursive: true, preserveTimestamps: true });
      lock?.release();
    }
    if (!inMemory && !readOnly) {
      mkdirSync(dataDir, { recursive: true });
      // An existing database writes at startup; a fresh one's initdb fails cleanly (errno 51) when full.
      if (exists) ensureFreeSpace(dataDir, RESERVE_BYTES, `opening the PGlite database in ${dataDir}`);
    }
    const opened = inMemory ? new PGlite({ extensions: { vector } }) : new PGlite(snapshot ?? dataDir, { extensions: { vector } });
    db = opened;
    await opened.waitReady;
    // Proves pgvector actually loads (not just that its files are listed); in memory only.
    if (inMemory) await opened.exec(sqlFile('queries/create_extension.sql'));
    if (readOnly) await opened.exec(sqlFile('queries/session_read_only.sql'));
  } catch (error) {
    if (db !== undefined && db.ready && !db.closed) await db.close().catch(() => undefined);
    await cleanup();
    throw toSinkError(error, 'E_CONNECT', `cannot open the PGlite database in ${dataDir}`, [], { name: 'pglite', location: dataDir });
  }
  const driver = new PgliteDriver(db, dataDir, readOnly, inMemory, readOnly ? null : dataDir);
  return createSink(driver.onClose(cleanup));
}

/**
 * A Sink over an already open PGlite (which it closes on close()). Used by openPgliteSink, and
 * by tests that need to look at the same database the sink writes to (one process cannot open a
 * PGlite directory twice).
 */
export function pgliteSinkFrom(db: PGlite, options: { location: string; readOnly?: boolean; willBeCreated?: boolean }): Sink {
  const readOnly = options.readOnly ?? false;
  return createSink(new PgliteDriver(db, options.location, readOnly, options.willBeCreated ?? false, null));
}

/** Checks free space before a write (diskSpace.ts); null: no check (read-only, or a test's own PGlite). */
type SpaceCheck = ((pendingBytes: number, step: string) => void) | null;

function spaceCheck(dataDir: string | null): SpaceCheck {
  if (dataDir === null) return null;
  return (pendingBytes, step) => ensureFreeSpace(dataDir, RESERVE_BYTES + WRITE_AMPLIFICATION * pendingBytes, step);
}

class PgliteDriver implements Driver {
  readonly name = 'pglite' as const;
  readonly secrets: readonly string[] = [];
  readonly #db: PGlite;
  readonly #space: SpaceCheck;
  #afterClose: () => Promise<void> = async () => {};

  constructor(
    db: PGlite,
    readonly location: string,
    readonly readOnly: boolean,
    readonly willBeCreated: boolean,
    /** The directory whose free space is checked before each statement, or null. */
    checkedDir: string | null,
  ) {
    this.#db = db;
    this.#space = spaceCheck(checkedDir);
  }

  /** Runs `fn` once the database is closed (the lock's release, the snapshot's removal). */
  onClose(fn: () => Promise<void>): this {
    this.#afterClose = fn;
    return this;
  }

  query<R extends Row>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    this.#space?.(0, 'writing to PGlite');
    return runQuery<R>(this.#db, text, params);
  }

  async exec(text: string): Promise<void> {
    this.#space?.(0, 'writing to PGlite');
    await this.#db.exec(text);
  }

  transaction<T>(fn: (tx: DriverTransaction) => Promise<T>): Promise<T> {
    this.#space?.(0, 'starting a transaction in PGlite');
    // PGlite's transaction() issues BEGIN/COMMIT, and ROLLBACK when fn throws, then rethrows.
    return this.#db.transaction((tx) => fn(new PgliteTransaction(tx, this.#space)));
  }

  session<T>(fn: (session: SqlRunner) => Promise<T>): Promise<T> {
    // PGlite has one session: this driver itself.
    return fn(this);
  }

  async close(): Promise<void> {
    try {
      if (!this.#db.closed) await this.#db.close();
    } finally {
      await this.#afterClose();
    }
  }
}

class PgliteTransaction implements DriverTransaction {
  readonly #tx: Transaction;
  readonly #space: SpaceCheck;
  /** Bytes COPYed in this transaction: the statements after the COPY write them again. */
  #staged = 0;

  constructor(tx: Transaction, space: SpaceCheck) {
    this.#tx = tx;
    this.#space = space;
  }

  readerDuringCopy(): SqlRunner {
    return this;
  }

  query<R extends Row>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    this.#space?.(this.#staged, 'writing the staged rows to their table in PGlite');
    return runQuery<R>(this.#tx, text, params);
  }

  async exec(text: string): Promise<void> {
    this.#space?.(this.#staged, 'writing the staged rows to their table in PGlite');
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
    const copySql = sqlFile('queries/copy_staging_blob.sql', { staging, copy_columns: COLUMN_SQL.copy_columns });
    let copied = 0;
    for await (const batch of batches) {
      const payload = encodeCopyPayload(batch, options);
      this.#staged += payload.byteLength;
      this.#space?.(this.#staged, `copying a batch of ${batch.length} rows into PGlite`);
      const result = await this.#tx.query(copySql, [], { blob: new Blob([payload]) });
      copied += result.rowCount ?? result.affectedRows ?? 0;
    }
    return copied;
  }
}

async function runQuery<R extends Row>(db: PGlite | Transaction, text: string, params: readonly unknown[]): Promise<QueryResult<R>> {
  const result = await db.query<R>(text, [...params]);
  return { rows: result.rows, rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length };
}
