/**
 * What the two drivers (pg, PGlite) must provide so that one implementation of the Sink's
 * repositories (sink.ts) can run the same SQL files on both: queries, a transaction, and binary COPY.
 */
import type { EncodeOptions } from './copyBinary.js';
import type { SqlFragment } from './identifiers.js';
import type { DocumentRow } from './types.js';

export type Row = Record<string, unknown>;

export interface QueryResult<R extends Row> {
  rows: R[];
  /** Rows affected or returned, as the command tag says (0 when the server reports none). */
  rowCount: number;
}

export interface SqlRunner {
  query<R extends Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Several statements without parameters (a DDL file). */
  exec(text: string): Promise<void>;
}

export interface DriverTransaction extends SqlRunner {
  /**
   * COPYs all batches into `staging` in binary format and returns the row count the server
   * reported. Memory stays bounded by one encoded batch. `options.vectorType` is the type of the
   * staging table's `embedding` column (it decides how the floats are encoded).
   */
  copyBinary(staging: SqlFragment, batches: AsyncIterable<readonly DocumentRow[]>, options: EncodeOptions): Promise<number>;
  /**
   * Where a store writer reads while its COPY is open (StoreWriter.lookup): pg streams one COPY
   * per store on this connection, so it answers from another pooled connection (committed data);
   * PGlite copies batch by batch and reads through the transaction itself (its only connection).
   */
  readerDuringCopy(): SqlRunner;
  /**
   * COPYs one complete binary COPY payload (header, rows, trailer) and returns the row count:
   * `copy.stdin` is the statement reading FROM STDIN (pg), `copy.blob` the one reading PGlite's
   * /dev/blob.
   */
  copyPayload(copy: { stdin: string; blob: string }, payload: Buffer): Promise<number>;
}

export interface Driver extends SqlRunner {
  readonly name: 'pg' | 'pglite';
  /** Where the data lives, without secrets (host:port/db, or the PGlite directory). */
  readonly location: string;
  /** True when nothing exists yet at `location` (a read-only PGlite over a missing directory). */
  readonly willBeCreated: boolean;
  readonly readOnly: boolean;
  /** Passwords to mask in any message (empty for PGlite). */
  readonly secrets: readonly string[];
  /** Runs `fn` in one transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(fn: (tx: DriverTransaction) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` on ONE connection outside any transaction (each statement commits on its own):
   * for statements that refuse a transaction block (CREATE INDEX CONCURRENTLY) and need session
   * settings made just before. `fn` must leave the session's settings as it found them.
   */
  session<T>(fn: (session: SqlRunner) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
