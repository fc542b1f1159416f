/**
 * A PostgreSQL table as a migration source (`migrate --from-table`): what the user mapped, and the
 * reader contract its stores are read through. The reader itself lives in src/sink/ (only the
 * sink talks to a database); the source layer sees a table only through `TableReader`, as it sees
 * a FAISS or Chroma directory through a `FormatReader`.
 */
import type { Secret } from '../secret.js';

/** A mapped value: a column of the source table, or a constant (`user_id='acme'`). */
export type MappedValue = { kind: 'column'; name: string } | { kind: 'constant'; value: string };

/** --map KEY=VALUE,... as parsed (config/tableSource.ts); columns are checked against the catalog when the table is opened. */
export interface TableMapping {
  /** Row id column; null: the table's single-column primary key. */
  id: string | null;
  /** Owner column or constant; null: --user, else an error. */
  userId: MappedValue | null;
  collection: MappedValue;
  text: string;
  metadata: string | null;
  vector: string | null;
}

export interface TableSourceConfig {
  /** --from-table, possibly schema-qualified (`docs.embeddings`). */
  table: string;
  /** --from-database, or the target's URL without it (the target database then opened again, read-only). */
  database: Secret;
  /** True when the table is in the target database (no --from-database). */
  inTarget: boolean;
  mapping: TableMapping;
  /** The mapping as the user wrote it, normalized (recorded in the ledger, part of every store's checksum). */
  mappingText: string;
}

/** One (owner, collection) of the table. */
export interface TableStoreKey {
  userId: string;
  collection: string;
}

/** What one REPEATABLE READ snapshot of a store holds: its rows counted and hashed in key order. */
export interface TableStoreInspection {
  rows: number;
  /** Dimension of the vectors when they are read (keep mode), else null. */
  dimensions: number | null;
  /** SHA-256 over the mapping and every row (id, text, metadata, vector) in key order. */
  sha256: string;
}

/** One row of a store, in key order. */
export interface TableRecord {
  /** `schema.table:id`, from which the row id derives (transform/rowId.ts sourceRowId). */
  sourceId: string;
  position: number;
  text: string;
  metadata: Record<string, unknown>;
  vector: Float32Array | null;
}

export interface TableReader {
  /** `schema.table` (and where, without a password), as reports show it. */
  readonly label: string;
  /** True when rows carry their stored vectors (keep mode with a vector column mapped). */
  readonly withVectors: boolean;
  /**
   * Every (owner, collection) in code-unit order: one DISTINCT query. With `only` (a queued job's
   * one store), that store if it has a row, found through its own rows, not the whole table.
   */
  stores(only?: TableStoreKey): Promise<TableStoreKey[]>;
  /** Counts, checks and hashes a store in one snapshot; throws a coded MigrateError for a row it cannot migrate. */
  inspect(store: TableStoreKey): Promise<TableStoreInspection>;
  /**
   * Streams a store's rows in key order inside one snapshot, in constant memory; throws (before
   * the last row is handed over) when they no longer match what `inspect` counted and hashed.
   */
  records(store: TableStoreKey): AsyncGenerator<TableRecord>;
  close(): Promise<void>;
}

/** Set on a StoreLocation read from a table. */
export interface TableSource {
  reader: TableReader;
  /** The store's one inspection (count, checksum), read on first use and shared by validation and re-run checks. */
  inspection: () => Promise<TableStoreInspection>;
}
