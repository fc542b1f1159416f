/**
 * Driver for a real PostgreSQL server: a `pg` Pool, and `pg-copy-streams` for binary COPY.
 */
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { MigrateError } from '../errors.js';
import { encodeHeader, encodeRows, encodeTrailer, type EncodeOptions } from './copyBinary.js';
import type { Driver, DriverTransaction, QueryResult, Row, SqlRunner } from './driver.js';
import { toSinkError } from './failures.js';
import type { SqlFragment } from './identifiers.js';
import { describeUrl, parseConnectionUrl, redactUrl, urlSecrets } from './redact.js';
import { createSink } from './sink.js';
import { COLUMN_SQL } from './columns.js';
import { sqlFile } from './sqlFiles.js';
import type { Sink } from './sink.js';
import type { DocumentRow } from './types.js';

export type PgSinkOptions = ({ databaseUrl: string; pool?: undefined } | { pool: pg.Pool; databaseUrl?: undefined }) & {
  readOnly?: boolean;
  /** Fail instead of hanging when the server does not answer (default 10 s). */
  connectTimeoutMs?: number;
}

/**
 * Opens a pool (or borrows the caller's) and checks that the server answers; E_CONNECT (without
 * the password) if not.
 */
export async function openPgSink(options: PgSinkOptions): Promise<Sink> {
  if (options.pool === undefined) checkUrl(options.databaseUrl);
  else checkPool(options.pool);
  const driver = new PgDriver(options);
  try {
    await driver.query(sqlFile('queries/server_info.sql'));
  } catch (error) {
    await driver.close().catch(() => undefined);
    throw toSinkError(error, 'E_CONNECT', `cannot connect to PostgreSQL at ${driver.location}`, driver.secrets);
  }
  return createSink(driver);
}

/**
 * A driver that can only read (a table source: sink/tableSource.ts): every session of its pool is
 * opened with default_transaction_read_only=on, so the server refuses any write whatever the SQL.
 */
export async function openReadOnlyPgDriver(databaseUrl: string): Promise<Driver> {
  checkUrl(databaseUrl);
  const driver = new PgDriver({ databaseUrl, readOnly: true });
  try {
    await driver.query(sqlFile('queries/server_info.sql'));
  } catch (error) {
    await driver.close().catch(() => undefined);
    throw toSinkError(error, 'E_CONNECT', `cannot connect to the source database at ${driver.location}`, driver.secrets);
  }
  return driver;
}

/**
 * Only postgres:// and postgresql:// URLs: anything else would be parsed by pg in surprising
 * ways (`user:pw@host` reads as scheme `user:`), and echoing it could print the password.
 */
function checkUrl(url: string): void {
  let protocol: string;
  try {
    protocol = parseConnectionUrl(url).protocol;
  } catch {
    throw new MigrateError('E_USAGE', `the database URL ${redactUrl(url)} is not a valid URL (expected postgres://user:password@host:port/database)`);
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new MigrateError('E_USAGE', 'the database URL must start with postgres:// or postgresql:// (postgres://user:password@host:port/database)');
  }
}

/** The caller's pool must be open and lend two connections: readerDuringCopy reads beside a COPY. */
function checkPool(pool: pg.Pool): void {
  if (pool.ending || pool.ended) throw new MigrateError('E_USAGE', 'the pg.Pool given to the sink has been ended; pass an open pool');
  if ((pool.options.max ?? 10) < 2) {
    throw new MigrateError('E_USAGE', `the pg.Pool given to the sink allows ${pool.options.max} connection; give it max: 2 or more (a load reads stored embeddings on a second connection while its COPY holds the first)`);
  }
}

/** What messages show of the caller's pool, and the password to mask in them. */
function describePool(pool: pg.Pool): { location: string; secrets: string[] } {
  const o = pool.options;
  if (o.connectionString !== undefined) return { location: describeUrl(o.connectionString), secrets: urlSecrets(o.connectionString) };
  return {
    location: `${o.host ?? 'localhost'}:${o.port ?? 5432}/${o.database ?? '(default database)'}`,
    secrets: typeof o.password === 'string' && o.password !== '' ? [o.password] : [],
  };
}

const ignoreError = (): undefined => undefined;

class PgDriver implements Driver {
  readonly name = 'pg' as const;
  readonly location: string;
  readonly willBeCreated = false;
  readonly readOnly: boolean;
  readonly secrets: readonly string[];
  readonly #pool: pg.Pool;
  /**
   * The caller's pool: its connections were not opened with the sink's settings, and must go back
   * without them. So every statement runs in a transaction that sets them with SET LOCAL (and
   * READ ONLY for a dry run): COMMIT or ROLLBACK undoes them whatever happened in between, and a
   * value the caller set on the connection itself comes back too (a RESET would instead restore the
   * connection's start-up value). A session (no transaction) saves and restores them.
   */
  readonly #borrowed: boolean;
  readonly #begin: string;

  constructor(options: PgSinkOptions) {
    this.readOnly = options.readOnly ?? false;
    if (options.pool !== undefined) {
      ({ location: this.location, secrets: this.secrets } = describePool(options.pool));
      this.#pool = options.pool;
      this.#borrowed = true;
      this.#begin = sqlFile(this.readOnly ? 'queries/borrowed_begin_read_only.sql' : 'queries/borrowed_begin.sql');
      return;
    }
    this.location = describeUrl(options.databaseUrl);
    this.secrets = urlSecrets(options.databaseUrl);
    this.#borrowed = false;
    this.#begin = 'BEGIN';
    this.#pool = new pg.Pool({
      connectionString: options.databaseUrl,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      // One store loads at a time; a second connection serves the load's embedding lookups
      // (readerDuringCopy: the load's own connection is busy with its COPY), a third
      // inspect/search or a second load meanwhile.
      max: 3,
      // row_security=off: a query that row-level security would filter FAILS (42501, "query would
      // be affected by row-level security policy") instead of silently seeing part of a table, as
      // pg_dump does; superusers and BYPASSRLS roles are unaffected (README, "Row-level security").
      // Dry runs: the server itself refuses writes from these sessions.
      options: `-c row_security=off${this.readOnly ? ' -c default_transaction_read_only=on' : ''}`,
    });
    // An idle client losing its connection emits 'error' on the pool; unhandled, it would crash
    // the process. The next query on that connection fails and is reported with its store.
    this.#pool.on('error', () => undefined);
    // A checked-out client has no such listener (pg-pool removes it while the client is lent), so a
    // connection killed mid-COPY (pg_terminate_backend, a server restart) would crash the process
    // with an unhandled 'error'. The failure still reaches the running query, which fails its
    // store; the pool discards the dead client when it is released.
    this.#pool.on('connect', (client) => client.on('error', () => undefined));
  }

  async query<R extends Row>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    if (this.#borrowed) return this.transaction((tx) => tx.query<R>(text, params));
    const result = await this.#pool.query<R>(text, [...params]);
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  }

  async exec(text: string): Promise<void> {
    if (this.#borrowed) return this.transaction((tx) => tx.exec(text));
    // No parameters: pg uses the simple query protocol, which accepts several statements.
    await this.#pool.query(text);
  }

  async transaction<T>(fn: (tx: DriverTransaction) => Promise<T>): Promise<T> {
    const client = await this.#connect();
    // A client whose ROLLBACK failed is in an unknown state: destroy it instead of reusing it.
    let broken: Error | undefined;
    try {
      await client.query(this.#begin);
      const result = await fn(new PgTransaction(client, this));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      throw error;
    } finally {
      this.#release(client, broken);
    }
  }

  async session<T>(fn: (session: SqlRunner) => Promise<T>): Promise<T> {
    const client = await this.#connect();
    let failed: Error | undefined;
    try {
      const runner = new ClientRunner(client);
      if (!this.#borrowed) return await fn(runner);
      const set = sqlFile('queries/session_settings_set.sql');
      const [saved] = (await runner.query<{ row_security: string; default_transaction_read_only: string }>(sqlFile('queries/session_settings_read.sql'))).rows;
      if (saved === undefined) throw new MigrateError('E_INTERNAL', 'reading the session settings returned no row');
      await runner.query(set, ['off', this.readOnly ? 'on' : saved.default_transaction_read_only]);
      const result = await fn(runner);
      await runner.query(set, [saved.row_security, saved.default_transaction_read_only]);
      return result;
    } catch (error) {
      // The session's settings may not have been restored: never hand this connection out again.
      failed = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      this.#release(client, failed);
    }
  }

  /** A connection of the pool for a transaction or a session; E_CONNECT when none can be had. */
  async #connect(): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw toSinkError(error, 'E_CONNECT', `cannot connect to PostgreSQL at ${this.location}`, this.secrets);
    }
    // Our own pool gave each client this listener once (constructor); a borrowed client gets it
    // only while the sink holds it, so the caller's handling of its idle clients is untouched.
    if (this.#borrowed) client.on('error', ignoreError);
    return client;
  }

  /** Back to the pool; `failed`: the connection is in an unknown state and is destroyed instead. */
  #release(client: pg.PoolClient, failed: Error | undefined): void {
    if (this.#borrowed) client.off('error', ignoreError);
    client.release(failed);
  }

  async close(): Promise<void> {
    // A borrowed pool is the caller's to end: every connection the sink checked out was released
    // when its operation ended.
    if (!this.#borrowed) await this.#pool.end();
  }
}

/** Queries on one checked-out connection (a session, or a transaction's). */
class ClientRunner implements SqlRunner {
  protected readonly client: pg.PoolClient;

  constructor(client: pg.PoolClient) {
    this.client = client;
  }

  async query<R extends Row>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    const result = await this.client.query<R>(text, [...params]);
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  }

  async exec(text: string): Promise<void> {
    await this.client.query(text);
  }
}

class PgTransaction extends ClientRunner implements DriverTransaction {
  readonly #pool: SqlRunner;

  constructor(client: pg.PoolClient, pool: SqlRunner) {
    super(client);
    this.#pool = pool;
  }

  readerDuringCopy(): SqlRunner {
    return this.#pool;
  }

  /**
   * One COPY for the whole store. `pipeline` writes each encoded batch to the COPY stream and,
   * when write() returns false, awaits 'drain' before pulling the next batch from the generator,
   * so at most one encoded batch (plus the socket's buffer) is in memory. If the batches throw,
   * pipeline destroys the stream, pg-copy-streams sends CopyFail and the server aborts the COPY;
   * the transaction is then rolled back by the caller.
   */
  async copyPayload(copy: { stdin: string; blob: string }, payload: Buffer): Promise<number> {
    const stream = this.client.query(copyFrom(copy.stdin));
    await pipeline(async function* send() {
      yield payload;
    }, stream);
    return stream.rowCount;
  }

  async copyBinary(staging: SqlFragment, batches: AsyncIterable<readonly DocumentRow[]>, options: EncodeOptions): Promise<number> {
    const stream = this.client.query(copyFrom(sqlFile('queries/copy_staging_stdin.sql', { staging, copy_columns: COLUMN_SQL.copy_columns })));
    await pipeline(async function* encode() {
      yield encodeHeader();
      for await (const batch of batches) yield encodeRows(batch, options);
      yield encodeTrailer();
    }, stream);
    return stream.rowCount;
  }
}
