import { open } from 'node:fs/promises';
import { allowInstances, dictGet, unpickle, type PyDict, type PyValue } from '../../pickle/index.js';
import { formatError } from './sqlite.js';

/**
 * index_metadata.pickle of a persisted HNSW segment: which Chroma id each hnswlib label stands
 * for. Python Chroma pickles a `PersistentData` object (NEWOBJ + BUILD of its __dict__); Chroma 1.x
 * (Rust, serde_pickle) a plain dict with the same keys. The safe data-pickle machine reads it with
 * an allow-list of that one class, which is never imported or called, only recorded; any other
 * global is refused with E_UNSAFE_PICKLE.
 */

const PERSISTENT_DATA = 'chromadb.segment.impl.vector.local_persistent_hnsw.PersistentData';
const ALLOWED = allowInstances([PERSISTENT_DATA]);

/** Bytes of index_metadata.pickle read into memory at most (about 60 bytes per stored element). */
export const MAX_INDEX_METADATA_BYTES = 128 << 20;
/**
 * What decoding may make us hold (the machine's estimate, charged as values are made), per byte
 * of the file. Python's pickle of an id map is charged about 9 times its size (measured: 12.4 MB
 * for 200,000 elements, protocol 4, 110 MB charged); a hostile file repeating one memo reference
 * with DUP or GET is charged 32 times its size, so it is refused long before it could expand.
 */
const HELD_BYTES_PER_FILE_BYTE = 12;
const MIN_HELD_BYTES = 1 << 20;

export interface IndexMetadata {
  dimensionality: number | null;
  totalElementsAdded: number;
  /** The legacy max_seq_id field, used when the max_seq_id table has no row for the segment. */
  maxSeqId: bigint | null;
  /** hnswlib label -> Chroma id, for the live elements. */
  labelToId: Map<number, string>;
}

export async function readIndexMetadata(path: string, label: string): Promise<IndexMetadata> {
  const file = await open(path, 'r');
  let bytes: Uint8Array;
  try {
    const { size } = await file.stat();
    if (size > MAX_INDEX_METADATA_BYTES) throw formatError(label, `is ${size} bytes, over the ${MAX_INDEX_METADATA_BYTES}-byte ceiling for an HNSW id map`);
    bytes = new Uint8Array(size);
    const { bytesRead } = await file.read(bytes, 0, size, 0);
    if (bytesRead !== size) throw formatError(label, `became shorter while it was being read`);
  } finally {
    await file.close();
  }
  const value = unpickle(bytes, {
    file: label,
    kind: 'an HNSW id map',
    allow: ALLOWED,
    maxHeldBytes: MIN_HELD_BYTES + HELD_BYTES_PER_FILE_BYTE * bytes.length,
    expected: `An HNSW id map names only ${PERSISTENT_DATA}.`,
    remedy: 'the id map cannot be read (the pickle is truncated or corrupt)',
  });
  return interpret(value, label);
}

function isDict(value: PyValue | undefined): value is PyDict {
  return value !== null && typeof value === 'object' && value.kind === 'dict';
}

function interpret(value: PyValue, label: string): IndexMetadata {
  const persistent = value !== null && typeof value === 'object' && value.kind === 'instance';
  const state = persistent ? value.state : value;
  if (!isDict(state)) throw formatError(label, persistent ? 'has a PersistentData state that is not a dict' : 'is not a PersistentData object or a dict');
  const field = (name: string): PyValue | undefined => dictGet(state, name);
  const int = (v: PyValue | undefined, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw formatError(label, `has ${what} that is not a non-negative integer`);
    return v;
  };
  const dims = field('dimensionality');
  const maxSeq = field('max_seq_id');
  const labelToIdValue = field('label_to_id');
  const idToLabelValue = field('id_to_label');
  if (!isDict(labelToIdValue)) throw formatError(label, 'has no label_to_id dict');
  if (!isDict(idToLabelValue)) throw formatError(label, 'has no id_to_label dict');
  const labelToId = new Map<number, string>();
  for (const [k, v] of labelToIdValue.pairs) {
    if (typeof v !== 'string') throw formatError(label, 'maps a label to something that is not a str id');
    labelToId.set(int(k, 'a label'), v);
  }
  // Chroma keeps both directions; they must be inverses, or the labels cannot be trusted.
  const consistent = idToLabelValue.pairs.length === labelToId.size && idToLabelValue.pairs.every(([id, l]) => typeof id === 'string' && typeof l === 'number' && labelToId.get(l) === id);
  if (!consistent) throw formatError(label, 'has id_to_label and label_to_id that are not inverses of each other');
  return {
    dimensionality: dims === null || dims === undefined ? null : int(dims, 'a dimensionality'),
    totalElementsAdded: int(field('total_elements_added'), 'a total_elements_added'),
    maxSeqId: typeof maxSeq === 'number' && Number.isInteger(maxSeq) ? BigInt(maxSeq) : typeof maxSeq === 'bigint' ? maxSeq : null,
    labelToId,
  };
}
