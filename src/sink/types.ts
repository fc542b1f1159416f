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
  /**
   * Hash partitions on user_id (2 to 256), each with its own HNSW index, when ensureSchema CREATES
   * the table; absent: a plain table. Absent on an existing table: keeps whatever layout it has.
   * Given for an existing table of another layout (plain, or another count): E_SCHEMA, never a
   * silent re-creation.
   */
  partitions?: number;
  /**
   * ensureSchema enables and forces row-level security with the policy
   * `user_id = NULLIF(current_setting('app.user_id', true), '')` (idempotent; also on an existing
   * table; see Sink.enableRls). Absent/false: leaves the table's RLS as it is (never disables it).
   */
  rls?: boolean;
}

export interface EnsureSchemaOptions {
  /** Leave the table without its HNSW index (build it after loading: Sink.buildSearchIndex). */
  deferSearchIndex?: boolean;
}

export interface BuildSearchIndexOptions {
  /** pg: CREATE INDEX CONCURRENTLY (writes go on during the build). Ignored by PGlite. */
  concurrently?: boolean;
  /**
   * `maintenance_work_mem` for the build only, e.g. '512MB' (a number with kB, MB or GB).
   * Default DEFAULT_INDEX_BUILD_MEMORY ('512MB' on pg: the HNSW graph of 100k x 384 floats fits,
   * and it is a small share of a 2-core / 24 GB server; '256MB' on PGlite, whose WebAssembly heap
   * lives in this process). A graph larger than this is still built, but much more slowly.
   */
  maintenanceWorkMem?: string;
}

/** See Sink.setupSearch. */
export interface SearchSetup {
  database: string;
  /** The role whose default was set; null: the database's own default. */
  role: string | null;
  /** `hnsw.iterative_scan=relaxed_order`. */
  setting: string;
  pgvectorVersion: string;
  /** False when the default was already there: nothing was changed. */
  changed: boolean;
}

/** See Sink.searchIndexState. */
export type SearchIndexState = 'valid' | 'invalid' | 'missing' | null;

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
  /** Hash partition count of the existing table (partitioned on user_id); null if not partitioned or no table. */
  tablePartitions: number | null;
  /** True when the existing table has row-level security enabled AND forced (false if no table). */
  tableRls: boolean;
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
  /** The table's HNSW index: see Sink.searchIndexState (null when there is no table). */
  searchIndex?: SearchIndexState;
}

export interface SearchHit {
  id: string;
  userId: string;
  collection: string;
  text: string;
  /** The source entry; null for a row an application wrote. */
  sourceIndex: number | null;
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

/** A run as the ledger (`migration_runs`) records it. Dry runs are never recorded. */
export interface RunRecord {
  id: string;
  startedAt: string;
  finishedAt: string | null;
  toolVersion: string;
  /** The run's options without secrets (no master key, no database password). */
  options: Record<string, unknown>;
  /** 'interrupted': stopped between stores by a signal (migration 004). */
  status: 'running' | 'succeeded' | 'failed' | 'interrupted';
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

/** One store's rows written by an application (Sink.applicationRows). */
export interface ApplicationRows extends StoreKey {
  rows: number;
}

/** What verification needs of a stored row (no embedding). */
export interface StoredRowSummary {
  id: string;
  userId: string;
  collection: string;
  /** Null (and contentSha256, embeddingModel too) for a row an application wrote. */
  sourceIndex: number | null;
  contentSha256: string | null;
  /** SHA-256 of the text as stored now (so a text altered behind the tool's back shows). */
  textSha256: string;
  embeddingModel: string | null;
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
  /**
   * Rows applications wrote (source_index NULL), included in `rows` but not in `fingerprints` nor
   * `nonNormalized`: they carry no fingerprint, and their vectors are the application's own.
   */
  applicationRows: number;
}


export type { Sink, SinkSession } from './sink.js';
export type { StoreWriter } from './storeWriter.js';
export type { NewReembedJob, ReembedJob, ReembedPendingRow, ReembedStoreCount, ReembedVector, Reembedding, SpotCheck, SwapResult } from './reembedding.js';
export { isRelayoutJob, RELAYOUT_KIND } from './reembedding.js';
export type { Relayout, RelayoutProbe, RelayoutSwapResult, RelayoutTableStats, RelayoutTransform } from './relayout.js';
