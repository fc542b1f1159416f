import type { ErrorCode } from '../errors.js';
import type { FormatInspection, FormatReader } from './formats/types.js';
import type { TableSource } from './tableTypes.js';

/** One `user_data/{userId}/vector_store_{collection}/` directory found under the root. */
export interface StoreLocation {
  userId: string;
  collection: string;
  /** Absolute, symlink-resolved path of the store directory (always inside the root). */
  dir: string;
  /** Absolute path of vectors.pkl, or null when the store has none. */
  vectorsPath: string | null;
  /** Absolute path of metadata.json, or null when the store has none. */
  metadataPath: string | null;
  /** Set for a third-party store (FAISS, LlamaIndex, Chroma): its files are the reader's, not the two above. */
  format?: FormatSource;
  /** Set for a store read from a PostgreSQL table (--from-table): `dir` is then the table's label. */
  table?: TableSource;
}

/** Which reader reads a third-party store, and which of the directory's collections this store is. */
export interface FormatSource {
  reader: FormatReader;
  /** The collection as the format names it ('' for a format with one unnamed collection). */
  name: string;
  /** The store directory relative to the root, as reports show it. */
  relPath: string;
  /** What discovery's inspection found (counts, files), reused by validation instead of a second read. */
  inspection: FormatInspection;
}

export type DiscoveryEvent =
  | { kind: 'store'; store: StoreLocation }
  | { kind: 'skipped'; path: string; code: ErrorCode; reason: string }
  /**
   * A store directory of a valid user that cannot be read (a link, a file that is a directory, a
   * FIFO or a link out of the store): a failed store, not a skip. Its paths are null.
   */
  | { kind: 'unreadable'; store: StoreLocation; path: string; code: ErrorCode; reason: string };

/** A vector as the pickle stored it; float32 arrays stay float32, Python floats become float64. */
export type StoredVector = Float32Array | Float64Array;

/** One object of metadata.json, exactly as parsed. */
export type MetadataEntry = Record<string, unknown>;
