/**
 * A PostgreSQL table read as a migration source (`migrate --from-table`): the TableReader of
 * source/tableTypes.ts. The source database is only ever read: its connections are opened with
 * default_transaction_read_only=on, and every read is one REPEATABLE READ READ ONLY transaction
 * (source_snapshot.sql), so a store's count, checksum and rows come from one snapshot. Rows are
 * paged by key (WHERE id > last ORDER BY id LIMIT n): memory is one page whatever the table's size.
 */
import { createHash, type Hash } from 'node:crypto';
import { MigrateError } from '../errors.js';
import type { TableRecord, TableReader, TableSourceConfig, TableStoreInspection, TableStoreKey } from '../source/tableTypes.js';
import { storeLabel } from '../storeLabel.js';
import { BatchChannel } from './batchChannel.js';
import type { Driver, DriverTransaction } from './driver.js';
import { openReadOnlyPgDriver } from './pgSink.js';
import { describeUrl } from './redact.js';
import { resolveTable } from './identifiers.js';
import { sqlFile } from './sqlFiles.js';
import { toSinkError } from './failures.js';
import { checkSourceTable, type CheckedSource } from './tableSourceCatalog.js';

export interface TableReaderOptions {
  /** Read and check the stored vectors (keep mode); a vector column must be mapped. */
  withVectors: boolean;
  /** Rows per page (one query each). */
  pageSize?: number;
  /** The run's target table: refused as the source when the source is the target database. */
  targetTable?: string;
}

interface SourceRow extends Record<string, unknown> {
  source_id: string;
  text: string | null;
  metadata: unknown;
  vector: unknown;
}

const DEFAULT_PAGE_SIZE = 1000;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Opens the source database read-only and checks the mapping against its catalog. */
export async function openTableReader(config: TableSourceConfig, options: TableReaderOptions): Promise<TableReader> {
  if (options.withVectors && config.mapping.vector === null) {
    throw new MigrateError('E_USAGE', '--embeddings keep loads the stored vectors: map their column with --map vector=COLUMN, or re-embed the texts (drop --embeddings keep)');
  }
  const driver = await openReadOnlyPgDriver(config.database.reveal());
  try {
    const checked = await driver.transaction(async (tx) => {
      await tx.query(sqlFile('queries/source_snapshot.sql'));
      const found = await checkSourceTable(tx, config.table, config.mapping);
      if (config.inTarget && options.targetTable !== undefined) {
        const [same] = (await tx.query<{ same: boolean }>(sqlFile('queries/source_is_target.sql'), [resolveTable(config.table).regclassText, resolveTable(options.targetTable).regclassText])).rows;
        if (same?.same === true) throw new MigrateError('E_USAGE', `--from-table ${config.table} is the target table itself: load it into another --table (the run replaces the rows of the table it writes)`);
      }
      return found;
    });
    const where = config.inTarget ? '' : ` at ${describeUrl(config.database.reveal())}`;
    return new PgTableReader(driver, checked, config, options, `${checked.qualified}${where}`);
  } catch (error) {
    await driver.close().catch(() => undefined);
    throw error;
  }
}

/** Counts rows and hashes them in key order, checking each as keep mode needs it. */
class RowChecker {
  readonly hash: Hash;
  rows = 0;
  dimensions: number | null = null;
  #previous: string | null = null;

  constructor(
    readonly source: CheckedSource,
    readonly config: TableSourceConfig,
    readonly withVectors: boolean,
    readonly store: TableStoreKey,
  ) {
    this.hash = createHash('sha256').update(`table\u0000${source.qualified}\u0000${config.mappingText}\u0000${withVectors ? 'vectors' : 'texts'}\n`);
  }

  /** The row as a record (position = rows before it); throws for a row that cannot be migrated. */
  check(row: SourceRow): TableRecord {
    const where = `${storeLabel(this.store)}: row ${this.source.idColumn}=${row.source_id} of ${this.source.qualified}`;
    if (row.source_id === this.#previous) {
      throw new MigrateError('E_SOURCE', `${where} appears twice: the id column must be unique (map another one with --map id=COLUMN)`);
    }
    this.#previous = row.source_id;
    let metadata: Record<string, unknown> = {};
    if (row.metadata !== null && row.metadata !== undefined) {
      if (!isObject(row.metadata)) throw new MigrateError('E_SOURCE', `${where}: its metadata (column ${this.config.mapping.metadata}) is ${Array.isArray(row.metadata) ? 'an array' : typeof row.metadata}, not a JSON object`);
      metadata = row.metadata;
    }
    const vector = this.withVectors ? this.#vector(row, where) : null;
    this.hash.update(`${row.source_id}\u0000${row.text ?? '\u0001null'}\u0000${JSON.stringify(metadata)}\u0000`);
    if (vector !== null) this.hash.update(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
    this.hash.update('\n');
    return { sourceId: `${this.source.qualified}:${row.source_id}`, position: this.rows++, text: row.text ?? '', metadata, vector };
  }

  #vector(row: SourceRow, where: string): Float32Array {
    const column = this.config.mapping.vector ?? '';
    if (row.vector === null || row.vector === undefined) {
      throw new MigrateError('E_VECTOR', `${where} has a NULL ${column}: keep mode needs a stored vector for every row (fill them, or re-embed the texts: drop --embeddings keep)`);
    }
    const raw = row.vector;
    if (!Array.isArray(raw) || raw.some((x) => typeof x !== 'number' && typeof x !== 'string')) {
      throw new MigrateError('E_VECTOR', `${where}: ${column} is not a flat array of numbers (a nested array or NULL elements)`);
    }
    const vector = Float32Array.from(raw, Number);
    if (vector.length === 0 || vector.some((x) => !Number.isFinite(x))) throw new MigrateError('E_VECTOR', `${where}: ${column} is empty or holds a non-finite number`);
    if (this.dimensions === null) this.dimensions = vector.length;
    else if (vector.length !== this.dimensions) {
      throw new MigrateError('E_VECTOR', `${where}: ${column} has ${vector.length} dimensions, earlier rows of this store have ${this.dimensions}; one store loads vectors of one dimension`);
    }
    return vector;
  }

  get sha256(): string {
    return this.hash.copy().digest('hex');
  }
}

class PgTableReader implements TableReader {
  readonly withVectors: boolean;
  readonly #pageSize: number;
  /** What validation found per store: a later read must find the same rows. */
  readonly #inspected = new Map<string, TableStoreInspection>();

  constructor(
    readonly driver: Driver,
    readonly source: CheckedSource,
    readonly config: TableSourceConfig,
    options: TableReaderOptions,
    readonly label: string,
  ) {
    this.withVectors = options.withVectors;
    this.#pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  }

  get #params(): [string | null, string | null] {
    return this.source.constants;
  }

  /** One snapshot transaction; what the server throws becomes a coded error without any password. */
  async #snapshot<T>(what: string, fn: (tx: DriverTransaction) => Promise<T>): Promise<T> {
    try {
      return await this.driver.transaction(async (tx) => {
        await tx.query(sqlFile('queries/source_snapshot.sql'));
        return await fn(tx);
      });
    } catch (error) {
      throw toSinkError(error, 'E_SOURCE', `reading ${what} from ${this.label}`, this.driver.secrets);
    }
  }

  async stores(only?: TableStoreKey): Promise<TableStoreKey[]> {
    if (only !== undefined) {
      const [row] = await this.#snapshot(storeLabel(only), async (tx) => (await tx.query<{ found: boolean }>(sqlFile('queries/source_store_exists.sql', this.source.fragments), [...this.#params, only.userId, only.collection])).rows);
      return row?.found === true ? [{ userId: only.userId, collection: only.collection }] : [];
    }
    const rows = await this.#snapshot('the stores', async (tx) => {
      return (await tx.query<{ user_id: string | null; collection: string | null }>(sqlFile('queries/source_stores.sql', this.source.fragments), this.#params)).rows;
    });
    const orphan = rows.find((r) => r.user_id === null || r.collection === null);
    if (orphan !== undefined) {
      const which = orphan.user_id === null ? `user_id (${this.#mappedName('userId')})` : `collection (${this.#mappedName('collection')})`;
      throw new MigrateError('E_SOURCE', `${this.source.qualified} has rows whose ${which} is NULL: they belong to no store; fill the column, or map a constant`);
    }
    return rows.map((r) => ({ userId: r.user_id ?? '', collection: r.collection ?? '' }));
  }

  #mappedName(key: 'userId' | 'collection'): string {
    const v = this.config.mapping[key];
    return v === null ? '' : v.kind === 'column' ? `column ${v.name}` : 'a constant';
  }

  async inspect(store: TableStoreKey): Promise<TableStoreInspection> {
    const checker = new RowChecker(this.source, this.config, this.withVectors, store);
    const counted = await this.#snapshot(storeLabel(store), async (tx) => {
      const count = await this.#count(tx, store);
      for await (const page of this.#pages(tx, store)) for (const row of page) checker.check(row);
      return count;
    });
    this.#checkCount(store, counted, checker.rows);
    const inspection = { rows: checker.rows, dimensions: checker.dimensions, sha256: checker.sha256 };
    this.#inspected.set(storeLabel(store), inspection);
    return inspection;
  }

  async *records(store: TableStoreKey): AsyncGenerator<TableRecord> {
    const checker = new RowChecker(this.source, this.config, this.withVectors, store);
    const channel = new BatchChannel<SourceRow[]>();
    const expected = this.#inspected.get(storeLabel(store));
    // The generator cannot yield from inside the transaction's callback: the callback pushes each
    // page into a channel and waits for this side to take the next, so one page is in flight.
    const reading = this.#snapshot(storeLabel(store), async (tx) => {
      const count = await this.#count(tx, store);
      for await (const page of this.#pages(tx, store)) await channel.push(page);
      return count;
    }).then(
      (count) => {
        channel.close();
        return count;
      },
      (error: unknown) => {
        channel.fail(error);
        return null;
      },
    );
    let finished = false;
    try {
      let pending: TableRecord[] = [];
      for await (const page of channel) {
        // The last row is held back until the checks below pass: a consumer never sees a whole store that is not the validated one.
        for (const row of page) {
          yield* pending;
          pending = [checker.check(row)];
        }
      }
      const count = await reading;
      if (count !== null) this.#checkCount(store, count, checker.rows);
      if (expected !== undefined && (expected.rows !== checker.rows || expected.sha256 !== checker.sha256)) {
        throw new MigrateError('E_SOURCE', `${storeLabel(store)}: ${this.source.qualified} changed since it was validated (${expected.rows} rows then, ${checker.rows} now); nothing of this store was loaded: run the migration again`);
      }
      yield* pending;
      finished = true;
    } finally {
      if (!finished) await channel.return();
      await reading;
    }
  }

  async #count(tx: DriverTransaction, store: TableStoreKey): Promise<number> {
    const [row] = (await tx.query<{ rows: string; null_ids: string }>(sqlFile('queries/source_store_count.sql', this.source.fragments), [...this.#params, store.userId, store.collection])).rows;
    const nullIds = Number(row?.null_ids ?? 0);
    if (nullIds > 0) throw new MigrateError('E_SOURCE', `${storeLabel(store)}: ${nullIds} rows of ${this.source.qualified} have a NULL ${this.source.idColumn}: the id column must be unique and not null (map another with --map id=COLUMN)`);
    return Number(row?.rows ?? 0);
  }

  #checkCount(store: TableStoreKey, counted: number, streamed: number): void {
    if (counted !== streamed) {
      throw new MigrateError('E_SOURCE', `${storeLabel(store)}: ${this.source.qualified} holds ${counted} rows but ${streamed} distinct ${this.source.idColumn} values: the id column must be unique (map another with --map id=COLUMN)`);
    }
  }

  async *#pages(tx: DriverTransaction, store: TableStoreKey): AsyncGenerator<SourceRow[]> {
    const base = [...this.#params, store.userId, store.collection, this.#pageSize];
    let page = (await tx.query<SourceRow>(sqlFile('queries/source_rows_first.sql', this.source.fragments), base)).rows;
    while (page.length > 0) {
      yield page;
      const last = page[page.length - 1];
      if (page.length < this.#pageSize || last === undefined) return;
      page = (await tx.query<SourceRow>(sqlFile('queries/source_rows_after.sql', this.source.fragments), [...base, last.source_id])).rows;
    }
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}
