/** One row of the target table, ready to be encoded for COPY. */
export interface DocumentRow {
  /** Deterministic UUID v5 (see transform/rowId.ts): a re-run produces the same id. */
  id: string;
  userId: string;
  collection: string;
  text: string;
  embedding: Float32Array;
  /** The metadata object serialized as JSON (no U+0000 anywhere: jsonb refuses it). */
  metadataJson: string;
  /** Hex SHA-256 of the UTF-8 text. */
  contentSha256: string;
  embeddingModel: string;
  sourceIndex: number;
}

export interface TargetSpec {
  /** Unquoted table name, validated as an identifier (optionally schema-qualified: schema.table). */
  table: string;
  dimensions: number;
}

export interface StoreKey {
  userId: string;
  collection: string;
}

export interface DatabaseInfo {
  driver: 'pg' | 'pglite';
  /** Human-readable location without secrets: host:port/db, or the PGlite directory. */
  location: string;
  serverVersion: string;
  /** Version of pgvector installed in the database, or available to install; null if neither. */
  pgvectorVersion: string | null;
  pgvectorInstalled: boolean;
  tableExists: boolean;
  /** Dimension of the existing table's embedding column, null if no table. */
  tableDimensions: number | null;
  /** True when the database did not exist yet (PGlite directory missing). */
  willBeCreated: boolean;
}

export interface SearchHit {
  id: string;
  userId: string;
  collection: string;
  text: string;
  sourceIndex: number;
  /** Cosine distance (0 = same direction). */
  distance: number;
  metadata: unknown;
}

export interface LoadResult {
  rowsLoaded: number;
  /** Rows of that (user, collection) that existed before and were replaced. */
  rowsReplaced: number;
}

/**
 * The only thing the pipeline knows about the database. Both drivers (pg + pg-copy-streams,
 * PGlite + pgvector) implement it; all SQL lives behind it.
 */
export interface Sink {
  readonly driver: 'pg' | 'pglite';
  /** Reachability, pgvector and table compatibility. Writes nothing. */
  inspect(target: TargetSpec): Promise<DatabaseInfo>;
  /** Creates the extension, table and indexes if missing. E_DIM_MISMATCH if the table has another dimension. */
  ensureSchema(target: TargetSpec): Promise<void>;
  /**
   * Replaces all rows of one (user, collection) in a single transaction: the batches are COPYed
   * into a staging table, the old rows deleted, the staged rows inserted and counted, then commit.
   * If `batches` throws, or any check fails, the transaction rolls back and the error propagates.
   */
  replaceStore(target: TargetSpec, key: StoreKey, batches: AsyncIterable<DocumentRow[]>): Promise<LoadResult>;
  /** Top-k rows of one user (optionally one collection) by cosine distance. */
  search(target: TargetSpec, query: { userId: string; collection?: string; embedding: Float32Array; k: number }): Promise<SearchHit[]>;
  close(): Promise<void>;
}
