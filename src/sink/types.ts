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
  /**
   * Canonical JSON of everything that produced `embedding` (model id, model file hash, pooling,
   * normalization, dimensions, column type, PCA model): rows of one table must all share it.
   */
  embeddingFingerprint?: string | null;
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
  /**
   * Highest ledger migration (sql/migrations/) applied to the table's schema; null when the
   * ledger does not exist there yet (ensureSchema creates it).
   */
  ledgerVersion?: number | null;
  /** Name of the table keeping the rows runs replaced (`<table>_previous`, maybe shortened), as SQL would name it. */
  previousTable?: string;
  previousTableExists?: boolean;
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
  /**
   * Creates the extension, table and indexes if missing, the table's `<table>_previous`, and
   * applies the ledger migrations (sql/migrations/) to the table's schema, all in one
   * transaction. E_DIM_MISMATCH if the table has another dimension. Never on a read-only sink.
   */
  ensureSchema(target: TargetSpec): Promise<void>;
  /**
   * Replaces all rows of one (user, collection) in a single transaction: the batches are COPYed
   * into a staging table, the old rows deleted, the staged rows inserted and counted, then commit.
   * If `batches` throws, or any check fails, the transaction rolls back and the error propagates.
   * With `options.runId` (a run started with startRun in the table's schema), the rows it deletes
   * are first copied into `<table>_previous` and the replacement is recorded, in the same
   * transaction, so rollbackStore can undo it; a run replacing the same store twice keeps the rows
   * from before its first replacement. Locks: see LoadOptions (E_LOCKED with 'no-wait').
   */
  replaceStore(target: TargetSpec, key: StoreKey, batches: RowSource, options?: LoadOptions): Promise<LoadResult>;
  /**
   * Runs `fn` in ONE database transaction: every `session.replaceStore` and `session.savePcaModel`
   * commits together when `fn` resolves, or none does when anything throws (the previous active
   * model stays active, every row stays as it was). Also rolled back when a session operation
   * failed even if `fn` caught the error. While it runs, loads of other stores of `target`'s table
   * wait (they take the table's lock in shared mode, this takes it exclusively). Session
   * operations must be awaited one at a time. E_SCHEMA if the table does not exist yet.
   * `options.lock`: 'no-wait' fails with E_LOCKED instead of waiting for the table's lock.
   */
  transaction<T>(target: TargetSpec, fn: (session: SinkSession) => Promise<T>, options?: LockOptions): Promise<T>;
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

  // ---- Run ledger (tables migration_runs, migration_stores in the documents table's schema) ----
  //
  // Writes need the ledger (ensureSchema creates it; E_SCHEMA otherwise) and a writable sink
  // (E_USAGE). Reads work on a read-only sink and answer "nothing" (null, []) when the ledger
  // does not exist yet; they never create it. `ledger` picks the schema: the ledger of that
  // table's schema; absent, the first schema of the search_path (where an unqualified table's
  // ledger is). A run loading `s.docs` must pass `{ table: 's.docs' }` so that its run and its
  // stores' outcomes land in the same ledger.

  /** Records a run as 'running', started now. The caller generates the id (a UUID). */
  startRun(run: Omit<RunRecord, 'finishedAt' | 'status' | 'startedAt'>, ledger?: TableRef): Promise<RunRecord>;
  /**
   * Records one store's outcome (any number per store and run; the latest counts). The run must
   * have been started in the ledger of `outcome.table`'s schema (E_USAGE otherwise).
   */
  recordStore(outcome: StoreOutcome): Promise<StoreOutcome>;
  /** Ends a run: sets its status and finished_at. E_USAGE if the run is unknown. */
  finishRun(id: string, status: 'succeeded' | 'failed', ledger?: TableRef): Promise<RunRecord>;
  getRun(id: string, ledger?: TableRef): Promise<RunRecord | null>;
  /**
   * The latest recorded outcome of each store of `filter.table` (optionally one user and/or one
   * collection), one per store, ordered by user then collection. "Latest" follows the order of
   * recording (a sequence), never timestamps, so two outcomes recorded within the same clock tick
   * are still told apart. `rolledBackAt` says when that run's load of the store was rolled back.
   */
  latestOutcomes(filter: { table: string; userId?: string; collection?: string }): Promise<StoreOutcome[]>;
  /**
   * The latest 'ok' outcome of a store whose load was not rolled back since (after a rollback,
   * the rows in the table are from the load before), or null.
   */
  lastSuccessfulLoad(table: TableRef | string, key: StoreKey): Promise<StoreOutcome | null>;

  // ---- Replaced rows and rollback (`<table>_previous`, migration_replacements) ----

  /**
   * Undoes `runId`'s replacement of one store in ONE transaction: deletes the store's current
   * rows, puts back the rows the run replaced exactly as they were (every column: id, embedding,
   * metadata, created_at, …), deletes them from `<table>_previous` and marks the replacement
   * restored. A store that had no rows before the run ends up empty. E_ROLLBACK (nothing
   * changed) when there is nothing to restore: the run did not replace the store with a run id,
   * or it was rolled back already, or its saved rows were purged, or a later run replaced the
   * store and was not rolled back (roll that one back first), or rows were written to the store
   * after the run (by a load without run id, or by the application), or the saved rows were
   * tampered with. Takes the same locks as a load (LockOptions).
   */
  rollbackStore(target: TableRef, key: StoreKey, runId: string, options?: LockOptions): Promise<RollbackResult>;
  /**
   * The stores of the table that `runId` replaced and that can still be rolled back (not rolled
   * back yet, not purged), by user then collection; stores that had no rows before included.
   * Rolling each back and calling this again yields the rest: a rollback interrupted midway can
   * simply be repeated. Empty when the ledger does not exist. Reads only.
   */
  storesReplacedBy(target: TableRef, runId: string): Promise<StoreKey[]>;
  /**
   * Deletes the rows kept in `<table>_previous` that were replaced more than `olderThanDays` days
   * ago (DELETE; nothing is dropped) and marks those replacements as no longer rollback-able, in
   * one transaction. Returns the number of rows deleted.
   */
  purgePrevious(target: TableRef, olderThanDays: number): Promise<number>;

  // ---- Reads for reuse and verification (work read-only) ----

  /**
   * The stored embedding of the store's rows whose content_sha256 is among `shas` and that were
   * produced exactly as `fingerprint` says (same embedding_model, same pca_model_id, null = no
   * PCA), keyed by hash. Values are bit-exact float32 (halfvec columns: their float16 values).
   * Meant to be called once per batch. Empty when the table does not exist.
   */
  lookupEmbeddings(target: TableRef, key: StoreKey, shas: readonly string[], fingerprint: EmbeddingFingerprint): Promise<Map<string, Float32Array>>;
  /** Every row of one store (no embeddings), ordered by source_index; empty when the table does not exist. */
  readStoreSummaries(target: TableRef, key: StoreKey): Promise<StoredRowSummary[]>;
  /**
   * The store (user, collection) each of `ids` is in, ordered by id; ids absent from the table
   * give nothing. Lets verification find a store's rows filed under another user.
   */
  readRowsByIds(target: TableRef, ids: readonly string[]): Promise<StoredRowOwner[]>;
  /**
   * What `doctor` reports about a table (see TableDiagnosis). Reads only (works read-only), one
   * query per check. `normTolerance` (default 1e-3): how far from 1 a norm may be;
   * `examples` (default 5, at most 1000): how many row ids (or duplicate groups) each check lists.
   * E_SCHEMA when the table does not exist or is not a documents table; E_USAGE for bad options.
   * A table from before fingerprints (ensureSchema not run since) reports all rows as NULL.
   */
  diagnose(target: TableRef, opts?: { normTolerance?: number; examples?: number }): Promise<TableDiagnosis>;

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
  replaceStore(target: TargetSpec, key: StoreKey, batches: RowSource, options?: LoadOptions): Promise<LoadResult>;
  /** Stores a model and makes it the table's active model (the previous one stays, inactive). */
  savePcaModel(model: NewPcaModel): Promise<PcaModelRecord>;
}

/** A run as the ledger (`migration_runs`) records it. Dry runs are never recorded. */
export interface RunRecord {
  id: string;
  startedAt: string;
  finishedAt: string | null;
  toolVersion: string;
  /** The run's options without secrets (no master key, no database password). */
  options: Record<string, unknown>;
  status: 'running' | 'succeeded' | 'failed';
}

/** One store's outcome in one run (`migration_stores`). */
export interface StoreOutcome {
  runId: string;
  table: string;
  userId: string;
  collection: string;
  /**
   * 'unchanged': skipped because its source files did not change since its last successful load.
   * 'rolled-back': a rollback run restored the rows an earlier run replaced.
   */
  status: 'ok' | 'failed' | 'unchanged' | 'rolled-back';
  entries: number | null;
  rowsLoaded: number;
  rowsSkipped: number;
  /** Rows whose stored embedding was reused (same text hash, same embedding model and PCA model). */
  rowsReused: number;
  errorCode: string | null;
  errorMessage: string | null;
  /** SHA-256 over the store's source files (see source/store.ts), null when they could not be read. */
  sourceSha256: string | null;
  /** What produced the vectors (model id or kept label, plus PCA model), to tell a model change from a re-run. */
  embeddingModel: string;
  backupPath: string | null;
  durationMs: number;
  /** Set by the database when recorded. */
  recordedAt?: string;
  /**
   * Set on reads: when this run's load of the store was rolled back (rollbackStore), null if it
   * was not (or the run did not replace the store).
   */
  rolledBackAt?: string | null;
}

export interface LoadOptions {
  /** The run replacing the rows: the rows it replaces are kept in `<table>_previous` under this id. */
  runId?: string;
  /** 'wait' (default) blocks on another run holding the same store; 'no-wait' fails with E_LOCKED. */
  lock?: 'wait' | 'no-wait';
  /** Called once before blocking on another run's lock, so the CLI can say what it waits for. */
  onWait?: () => void;
}

/** How stored embeddings were produced: reused only when both match exactly. */
export interface EmbeddingFingerprint {
  embeddingModel: string;
  /** The PCA model that projected them; null: not reduced. */
  pcaModelId: string | null;
  /**
   * The rows' full `embedding_fingerprint` (model file hash, pooling, ...), required to match when
   * given: a model file replaced under the same id must not have its old vectors reused.
   */
  embeddingFingerprint?: string;
}

/**
 * Sink.lookupEmbeddings bound to one store, handed by replaceStore to a RowSource function. It
 * reads over a connection that can answer while the store's own transaction is busy streaming
 * its COPY (pg: another pooled connection; PGlite: the transaction itself, between batches),
 * so the batches can look up reusable embeddings as they are produced. (Calling
 * Sink.lookupEmbeddings from inside a load would deadlock on PGlite, whose single connection
 * is held by the load's transaction.) It sees the store's rows as they were before the load.
 */
export type EmbeddingLookup = (shas: readonly string[], fingerprint: EmbeddingFingerprint) => Promise<Map<string, Float32Array>>;

/** The rows of a load: batches, or a function producing them that may use the store's lookup. */
export type RowSource = AsyncIterable<DocumentRow[]> | ((lookup: EmbeddingLookup) => AsyncIterable<DocumentRow[]>);

/** Where a row is (readRowsByIds). */
export interface StoredRowOwner {
  id: string;
  userId: string;
  collection: string;
}

/** The locking part of LoadOptions, for operations that take locks but replace nothing. */
export type LockOptions = Pick<LoadOptions, 'lock' | 'onWait'>;

export interface RollbackResult {
  /** Rows put back from `<table>_previous`. */
  restored: number;
  /** Rows of the run (the store's current rows) deleted. */
  removed: number;
}

/** What verification needs of a stored row (no embedding). */
export interface StoredRowSummary {
  id: string;
  userId: string;
  collection: string;
  sourceIndex: number;
  contentSha256: string;
  /** SHA-256 of the text as stored now (so a text altered behind the tool's back shows). */
  textSha256: string;
  embeddingModel: string;
  pcaModelId: string | null;
}

/** What `doctor` finds wrong with a table (all counts; examples are a few row ids). */
export interface TableDiagnosis {
  /** The table as the caller named it (`table` or `schema.table`). */
  table: string;
  rows: number;
  /**
   * Distinct embedding fingerprints with their row counts (NULL for rows loaded before
   * fingerprints), most rows first (ties: NULL, then by fingerprint).
   */
  fingerprints: { fingerprint: string | null; rows: number }[];
  /** Rows whose embedding is all zeros. Examples: row ids, smallest first (likewise below). */
  zeroVectors: { rows: number; examples: string[] };
  /**
   * Rows whose embedding's L2 norm is off 1 by more than the tolerance (only meaningful for
   * normalized models). Zero vectors are not counted again here.
   */
  nonNormalized: { rows: number; examples: string[]; tolerance: number };
  /**
   * (user, text hash) pairs stored more than once (in any of the user's collections), and how
   * many rows they make; the same text under different users does not count. Examples: the
   * largest groups first.
   */
  duplicateTexts: { groups: number; rows: number; examples: { userId: string; contentSha256: string; rows: number }[] };
  /** Rows with an empty (or ASCII-whitespace-only) text. */
  missingText: { rows: number; examples: string[] };
}
