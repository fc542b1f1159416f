/**
 * Every failure the tool reports is a value with a stable code, so reports, exit codes and
 * support scripts can branch on it without parsing prose.
 */
export type ErrorCode =
  | 'E_USAGE' // bad command line or configuration
  | 'E_CONFIG' // inconsistent configuration (e.g. unknown model directory)
  | 'E_CONNECT' // the database cannot be reached or lacks pgvector
  | 'E_PATH' // a path leaves the root, or a symlink points outside it
  | 'E_MISSING_FILE' // a store lacks vectors.pkl or metadata.json
  | 'E_UNSAFE_PICKLE' // vectors.pkl references a global outside the numpy allow-list
  | 'E_PICKLE' // vectors.pkl is malformed, truncated or of an unsupported shape
  | 'E_DECRYPT' // metadata.json is a Fernet token that does not verify under the user's key
  | 'E_METADATA' // metadata.json is not a JSON array of objects
  | 'E_COUNT_MISMATCH' // vectors and metadata entries differ in number
  | 'E_VECTOR' // a stored vector is empty, ragged or holds non-finite values
  | 'E_MODEL' // the embedding model cannot be loaded
  | 'E_EMBED' // embedding a batch failed
  | 'E_DIM_MISMATCH' // the target table or a store has another dimension
  | 'E_SCHEMA' // the target table exists but lacks required columns, or its schema cannot be created
  | 'E_BACKUP' // the backup copy could not be written or verified
  | 'E_LOAD' // the database rejected the store's rows
  | 'E_LOCKED' // another run holds the store (or its table), or another process the PGlite directory, and the caller asked not to wait
  | 'E_DISK_FULL' // the disk of the database (the PGlite directory or the server's) has no room for the next write
  | 'E_ROLLBACK' // a store cannot be rolled back (nothing saved, already restored, purged, or written since)
  | 'E_INTERRUPTED' // the run was stopped by a signal (SIGINT/SIGTERM or the caller's AbortSignal) before this store
  | 'E_REEMBED' // a re-embedding cannot go on: its side table failed the checks before the swap, or there is nothing to resume, abort or swap back
  | 'E_UNSUPPORTED' // the server (pgvector version, PGlite) cannot do what the command asks; the message says what to do instead
  | 'E_FORMAT' // a FAISS, LlamaIndex or Chroma store is malformed, of a variant this tool refuses (named in the message), or matches two formats
  | 'E_SOURCE' // a source table (--from-table) is missing, or a --map column is missing, of an unusable type, or holds a value that cannot be migrated (NULL owner, duplicate id)
  | 'E_INTERNAL';

export class MigrateError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrateError';
    this.code = code;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isMigrateError(value: unknown): value is MigrateError {
  return value instanceof MigrateError;
}

/** Wraps anything thrown into a MigrateError, keeping codes that are already there. */
export function toMigrateError(value: unknown, fallback: ErrorCode, context: string): MigrateError {
  if (value instanceof MigrateError) return value;
  const detail = value instanceof Error ? value.message : String(value);
  return new MigrateError(fallback, `${context}: ${detail}`, { cause: value });
}
