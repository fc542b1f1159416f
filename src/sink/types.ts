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
  /** The PCA model that projected `embedding`, or null/absent when it was not reduced. */
  pcaModelId?: string | null;
}

/** `vector` (float32, indexable up to 2000 dims) or `halfvec` (float16, indexable up to 4000). */
export type VectorType = 'vector' | 'halfvec';

/**
 * How the table is searched: cosine (`<=>`, what the original application used) or L2 (`<->`),
 * which tables of PCA projections use: the projection keeps L2 distances, not angles.
 */
export type Distance = 'cosine' | 'l2';

export interface TargetSpec {
  /** Unquoted table name, validated as an identifier (optionally schema-qualified: schema.table). */
  table: string;
  dimensions: number;
  /**
   * Column type of `embedding`; 'vector' when absent. A table of the other type is refused
   * (E_DIM_MISMATCH), except by `search`, which reads any table and, when this is absent, uses
   * the column's own type.
   */
  vectorType?: VectorType;
  /** Operator the HNSW index serves and search uses; 'cosine' when absent. */
  distance?: Distance;
}

/** Operations that only need the table's name: a TargetSpec, or just `{ table }`. */
export type TableRef = TargetSpec | { table: string };

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
  /** Type of the existing table's embedding column, null if no table (or neither vector nor halfvec). */
  tableVectorType: VectorType | null;
  /** Id of the table's active PCA model; null if none (or no models table yet). */
  activePcaModelId: string | null;
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
  /**
   * Runs `fn` in ONE database transaction: every `session.replaceStore` and `session.savePcaModel`
   * commits together when `fn` resolves, or none does when anything throws (the previous active
   * model stays active, every row stays as it was). Also rolled back when a session operation
   * failed even if `fn` caught the error. While it runs, loads of other stores of `target`'s table
   * wait (they take the table's lock in shared mode, this takes it exclusively). Session
   * operations must be awaited one at a time. E_SCHEMA if the table does not exist yet.
   */
  transaction<T>(target: TargetSpec, fn: (session: SinkSession) => Promise<T>): Promise<T>;
  /**
   * The table's active PCA model; null if it has none or the models table does not exist yet.
   * Reads only (works on a read-only sink, creates nothing).
   */
  getPcaModel(target: TableRef): Promise<PcaModelRecord | null>;
  /** One of the table's models by id, active or not (null if unknown), e.g. the one a row names. */
  getPcaModelById(target: TableRef | string, id: string): Promise<PcaModelRecord | null>;
  /**
   * Stores a model in its own transaction and makes it the table's active model (the previous one
   * stays, inactive). Generates the id. Needs the schema (ensureSchema) of `model.table`.
   */
  savePcaModel(model: NewPcaModel): Promise<PcaModelRecord>;
  /** The distinct (user, collection) pairs that have rows in the table; empty if it does not exist. */
  listStoreKeys(target: TableRef): Promise<StoreKey[]>;
  /** Top-k rows of one user (optionally one collection) by cosine distance. */
  search(target: TargetSpec, query: { userId: string; collection?: string; embedding: Float32Array; k: number }): Promise<SearchHit[]>;
  close(): Promise<void>;
}

/**
 * A fitted PCA model as the database keeps it (table `vector_pca_models`, in the documents table's
 * schema). Float arrays come back bit-identical to what was saved.
 */
export interface PcaModelRecord {
  id: string;
  /** The documents table whose rows this model projects, as the caller named it. */
  table: string;
  /** ISO 8601 (millisecond precision). */
  createdAt: string;
  sourceDimensions: number;
  targetDimensions: number;
  /** sourceDimensions values. */
  mean: Float32Array;
  /** targetDimensions x sourceDimensions, row-major. */
  components: Float32Array;
  /** Variance along each component (targetDimensions values). */
  explainedVariance: Float64Array;
  /** Total variance of the sample (sum over all source dimensions), so the retained share can be recomputed. */
  totalVariance: number;
  sampleSize: number;
  /** e.g. 'covariance-eigh'. */
  method: string;
  /** How it was fitted (sampling, seed, notes, fit time, quality figures): free-form JSON. */
  fit: Record<string, unknown>;
  /** Held-out sample vectors (evaluationRows x sourceDimensions, float32) used for the quality figures. */
  evaluation: Float32Array;
  evaluationRows: number;
}

export type NewPcaModel = Omit<PcaModelRecord, 'id' | 'createdAt'>;

/** Operations that share one transaction (a PCA refit rewrites a whole table in one go). */
export interface SinkSession {
  /** Same checks and semantics as Sink.replaceStore, inside the session's transaction. */
  replaceStore(target: TargetSpec, key: StoreKey, batches: AsyncIterable<DocumentRow[]>): Promise<LoadResult>;
  /** Stores a model and makes it the table's active model (the previous one stays, inactive). */
  savePcaModel(model: NewPcaModel): Promise<PcaModelRecord>;
}
