import { allowInstances, SET_CONSTRUCTORS, unpickle, type PyValue } from '../pickle/index.js';

/**
 * How index.pkl (LangChain's FAISS docstore) goes through the safe data-pickle machine: the
 * docstore classes (see langchainDocstore.ts) and Python's set types are all it may name, and
 * errors say what a genuine file holds. langchainDocstore.ts maps the resulting plain data.
 */

export interface DataPickleOptions {
  /** How errors name the file: `index.pkl (/path/to/index.pkl)`. */
  readonly file: string;
  /** Qualified names (`module.name`) of the classes the pickle may instantiate. */
  readonly classes: ReadonlySet<string>;
  /** Approximate bytes of decoded values the pickle may make us hold. */
  readonly maxHeldBytes: number;
}

/** Decodes a docstore pickle held in memory. Never calls, imports or executes anything it names. */
export function unpickleData(bytes: Uint8Array, options: DataPickleOptions): PyValue {
  return unpickle(bytes, {
    file: options.file,
    kind: 'a LangChain docstore pickle',
    allow: allowInstances(options.classes, SET_CONSTRUCTORS),
    maxHeldBytes: options.maxHeldBytes,
    expected: 'A LangChain FAISS docstore names only InMemoryDocstore and Document: this file was written by other code or tampered with',
    remedy: 'the docstore cannot be read (re-save it with FAISS.save_local, or restore the original file)',
  });
}
