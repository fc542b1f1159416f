import type { MigrateError } from '../../errors.js';

/**
 * The contract every reader of a third-party store format implements (LangChain FAISS, LlamaIndex,
 * Chroma). A reader knows one directory layout and nothing about users, keys, the database or the
 * model: discovery maps directories to owners, and the run layer embeds and loads what it yields.
 * Readers open every file read-only and never execute anything the files name.
 */
export type StoreFormat = 'faiss' | 'llamaindex' | 'chroma';

/** One document as the format stored it. */
export interface FormatRecord {
  /** The format's own id (docstore id, node id, Chroma embedding id): row ids derive from it. */
  sourceId: string;
  /** 0-based position in the reader's deterministic order. */
  position: number;
  text: string;
  /** Plain JSON-able data only (no class instances, no Sets: arrays instead). */
  metadata: Record<string, unknown>;
  /** The stored vector, when asked for and present; null when the format holds none for it. */
  vector: Float32Array | null;
}

/** One collection inside a store directory (Chroma collection, LlamaIndex vector-store namespace). */
export interface FormatCollection {
  /** As the format names it; '' when the format has a single unnamed one (FAISS). */
  name: string;
  records: number;
  /** Dimension of the stored vectors; null when none are stored. */
  dimensions: number | null;
}

export interface FormatInspection {
  format: StoreFormat;
  collections: FormatCollection[];
  /** Paths, relative to the store directory, of every file the records come from (hashed for re-runs). */
  files: string[];
  /** Things skipped on purpose, said to the user (e.g. a property-graph store's entity embeddings). */
  warnings: string[];
}

export interface FormatReader {
  readonly format: StoreFormat;
  /** True when `dir` holds this format's marker files (only file names are looked at). */
  matches(dir: string): Promise<boolean>;
  /**
   * Reads the whole store once without keeping it: every record parses, counts agree, vectors are
   * finite and of one dimension. Throws a MigrateError with a code and the file at fault.
   */
  inspect(dir: string): Promise<FormatInspection>;
  /** Streams one collection's records in `position` order. */
  records(dir: string, collection: string, options: { withVectors: boolean }): AsyncGenerator<FormatRecord>;
}

/** What a reader throws; an alias so readers import one name. */
export type FormatError = MigrateError;
