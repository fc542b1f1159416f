import { open } from 'node:fs/promises';
import { MigrateError } from '../../../errors.js';
import { qualifiedName } from '../../pickle/globals.js';
import { OP, opName } from '../../pickle/opcodes.js';
import { longFromBytes } from '../../pickle/text.js';
import { formatError } from './sqlite.js';

/**
 * index_metadata.pickle of a persisted HNSW segment: which Chroma id each hnswlib label stands
 * for. Python Chroma pickles a `PersistentData` object (NEWOBJ + BUILD of its __dict__); Chroma 1.x
 * (Rust, serde_pickle) a plain dict with the same keys. This is a data-only pickle VM for exactly
 * that: str/int/None/bool/float, tuples, lists, dicts, the memo, and the one class below, which is
 * never imported or called, only recorded. Any other global is refused with E_UNSAFE_PICKLE.
 */

const PERSISTENT_DATA = 'chromadb.segment.impl.vector.local_persistent_hnsw\nPersistentData';

/** Bytes of index_metadata.pickle read into memory at most (about 60 bytes per stored element). */
export const MAX_INDEX_METADATA_BYTES = 128 << 20;
/**
 * Values on the stack plus items put into containers. Python's pickler batches 1000 items per
 * SETITEMS, and an id map of n elements holds about 6n items, so these leave room for millions of
 * elements while a hostile file repeating one memo reference cannot grow memory past them.
 */
const MAX_STACK = 100_000;
const MAX_ITEMS = 16_000_000;

export interface IndexMetadata {
  dimensionality: number | null;
  totalElementsAdded: number;
  /** The legacy max_seq_id field, used when the max_seq_id table has no row for the segment. */
  maxSeqId: bigint | null;
  /** hnswlib label -> Chroma id, for the live elements. */
  labelToId: Map<number, string>;
}

type Key = string | number | bigint | boolean | null;
type Value = Key | PyList | PyTuple | PyDict | PyObject | PyClass | Mark;
interface PyList {
  kind: 'list';
  items: Value[];
}
interface PyTuple {
  kind: 'tuple';
  items: Value[];
}
interface PyDict {
  kind: 'dict';
  map: Map<Key, Value>;
}
interface PyClass {
  kind: 'class';
}
interface PyObject {
  kind: 'object';
  state: PyDict | null;
}
interface Mark {
  kind: 'mark';
}
const MARK: Mark = { kind: 'mark' };

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
  return interpret(decode(bytes, label), label);
}

function decode(bytes: Uint8Array, label: string): Value {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (message: string): MigrateError => formatError(label, `${message}; the pickle is truncated or corrupt`);
  const stack: Value[] = [];
  const memo = new Map<number, Value>();
  let pos = 0;
  const need = (n: number): number => {
    if (n < 0 || pos + n > bytes.length) throw fail(`ends inside an opcode at offset ${pos}`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = (): number => view.getUint8(need(1));
  const u32 = (): number => view.getUint32(need(4), true);
  const u64 = (): number => {
    const v = view.getBigUint64(need(8), true);
    if (v > BigInt(bytes.length)) throw fail(`declares a length of ${v} bytes at offset ${pos - 8}, longer than the file`);
    return Number(v);
  };
  const text = (n: number): string => {
    const at = need(n);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(at, at + n));
    } catch {
      throw fail(`holds a str at offset ${at} that is not valid UTF-8`);
    }
  };
  const pop = (): Value => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw fail(`pops an empty stack at offset ${pos - 1}`);
    return v;
  };
  const popMark = (): Value[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw fail(`has no MARK for the opcode at offset ${pos - 1}`);
    return stack.splice(i).slice(1);
  };
  const top = (): Value => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw fail(`uses an empty stack at offset ${pos - 1}`);
    return v;
  };
  const asKey = (v: Value): Key => {
    if (v !== null && typeof v === 'object') throw fail(`uses ${v.kind} as a dict key at offset ${pos - 1}`);
    return v;
  };
  let items = 0;
  const spend = (n: number): void => {
    items += n;
    if (items > MAX_ITEMS) throw formatError(label, `builds more than ${MAX_ITEMS} values, more than an HNSW id map of this size holds; refused`);
  };
  const setItems = (target: Value, items: Value[]): void => {
    spend(items.length);
    if (target === null || typeof target !== 'object' || target.kind !== 'dict') throw fail(`sets items on a non-dict at offset ${pos - 1}`);
    if (items.length % 2 !== 0) throw fail(`has an odd number of SETITEMS values at offset ${pos - 1}`);
    for (let i = 0; i < items.length; i += 2) target.map.set(asKey(items[i] ?? null), items[i + 1] ?? null);
  };
  const append = (target: Value, items: Value[]): void => {
    spend(items.length);
    if (target === null || typeof target !== 'object' || target.kind !== 'list') throw fail(`appends to a non-list at offset ${pos - 1}`);
    target.items.push(...items);
  };
  const global = (module: string, name: string): Value => {
    if (`${module}\n${name}` !== PERSISTENT_DATA) {
      throw new MigrateError('E_UNSAFE_PICKLE', `${label} references the global ${qualifiedName(module, name)}; an HNSW id map names only ${PERSISTENT_DATA.replace('\n', '.')}, refused without running anything`);
    }
    return { kind: 'class' };
  };

  for (;;) {
    const at = pos;
    if (stack.length > MAX_STACK) throw formatError(label, `holds more than ${MAX_STACK} values on the pickle stack at offset ${at}; Python's pickler never does, refused`);
    const op = u8();
    switch (op) {
      case OP.PROTO:
        u8();
        break;
      case OP.FRAME:
        need(8);
        break;
      case OP.STOP: {
        const result = pop();
        return result;
      }
      case OP.MARK:
        stack.push(MARK);
        break;
      case OP.POP:
        pop();
        break;
      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.BININT:
        stack.push(view.getInt32(need(4), true));
        break;
      case OP.BININT1:
        stack.push(u8());
        break;
      case OP.BININT2:
        stack.push(view.getUint16(need(2), true));
        break;
      case OP.LONG1: {
        const n = u8();
        const start = need(n);
        stack.push(longFromBytes(bytes.subarray(start, start + n)));
        break;
      }
      case OP.BINFLOAT:
        stack.push(view.getFloat64(need(8), false));
        break;
      case OP.SHORT_BINUNICODE:
        stack.push(text(u8()));
        break;
      case OP.BINUNICODE:
        stack.push(text(u32()));
        break;
      case OP.BINUNICODE8:
        stack.push(text(u64()));
        break;
      case OP.EMPTY_DICT:
        stack.push({ kind: 'dict', map: new Map() });
        break;
      case OP.EMPTY_LIST:
        stack.push({ kind: 'list', items: [] });
        break;
      case OP.EMPTY_TUPLE:
        stack.push({ kind: 'tuple', items: [] });
        break;
      case OP.TUPLE1:
      case OP.TUPLE2:
      case OP.TUPLE3: {
        const n = op - OP.TUPLE1 + 1;
        const items: Value[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop());
        stack.push({ kind: 'tuple', items });
        break;
      }
      case OP.TUPLE:
        stack.push({ kind: 'tuple', items: popMark() });
        break;
      case OP.LIST:
        stack.push({ kind: 'list', items: popMark() });
        break;
      case OP.DICT: {
        const dict: PyDict = { kind: 'dict', map: new Map() };
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case OP.SETITEM: {
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case OP.APPEND: {
        const value = pop();
        append(top(), [value]);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        append(top(), items);
        break;
      }
      case OP.MEMOIZE:
        memo.set(memo.size, top());
        break;
      case OP.BINPUT:
        memo.set(u8(), top());
        break;
      case OP.LONG_BINPUT:
        memo.set(u32(), top());
        break;
      case OP.BINGET:
      case OP.LONG_BINGET: {
        const slot = op === OP.BINGET ? u8() : u32();
        const value = memo.get(slot);
        if (value === undefined) throw fail(`reads memo slot ${slot}, never written, at offset ${at}`);
        stack.push(value);
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail(`has a STACK_GLOBAL without two strs at offset ${at}`);
        stack.push(global(module, name));
        break;
      }
      case OP.GLOBAL: {
        const line = (): string => {
          const end = bytes.indexOf(0x0a, pos);
          if (end < 0) throw fail(`ends inside a GLOBAL at offset ${at}`);
          const s = text(end - pos);
          pos = end + 1;
          return s;
        };
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case OP.NEWOBJ: {
        const args = pop();
        const cls = pop();
        if (cls === null || typeof cls !== 'object' || cls.kind !== 'class') throw fail(`instantiates something that is not a class at offset ${at}`);
        if (args === null || typeof args !== 'object' || args.kind !== 'tuple' || args.items.length !== 0) throw fail(`passes arguments to PersistentData at offset ${at}`);
        stack.push({ kind: 'object', state: null });
        break;
      }
      case OP.BUILD: {
        const state = pop();
        const target = top();
        if (target === null || typeof target !== 'object' || target.kind !== 'object' || target.state !== null) throw fail(`has a BUILD on something other than a new PersistentData at offset ${at}`);
        if (state === null || typeof state !== 'object' || state.kind !== 'dict') throw fail(`has a PersistentData state that is not a dict at offset ${at}`);
        target.state = state;
        break;
      }
      case OP.REDUCE:
      case OP.INST:
      case OP.OBJ:
      case OP.NEWOBJ_EX:
      case OP.PERSID:
      case OP.BINPERSID:
      case OP.EXT1:
      case OP.EXT2:
      case OP.EXT4:
        throw new MigrateError('E_UNSAFE_PICKLE', `${label} uses ${opName(op)} at offset ${at}, which calls code; an HNSW id map never needs it, refused without running anything`);
      default:
        throw fail(`has ${opName(op)} at offset ${at}, which an HNSW id map never holds`);
    }
  }
}

function interpret(value: Value, label: string): IndexMetadata {
  const state = value !== null && typeof value === 'object' && value.kind === 'object' ? value.state : value;
  if (state === null || typeof state !== 'object' || state.kind !== 'dict') throw formatError(label, 'is not a PersistentData object or a dict');
  const field = (name: string): Value | undefined => state.map.get(name);
  const int = (v: Value | undefined, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw formatError(label, `has ${what} that is not a non-negative integer`);
    return v;
  };
  const dims = field('dimensionality');
  const maxSeq = field('max_seq_id');
  const labelToIdValue = field('label_to_id');
  const idToLabelValue = field('id_to_label');
  if (labelToIdValue === null || typeof labelToIdValue !== 'object' || labelToIdValue.kind !== 'dict') throw formatError(label, 'has no label_to_id dict');
  if (idToLabelValue === null || typeof idToLabelValue !== 'object' || idToLabelValue.kind !== 'dict') throw formatError(label, 'has no id_to_label dict');
  const labelToId = new Map<number, string>();
  for (const [k, v] of labelToIdValue.map) {
    if (typeof v !== 'string') throw formatError(label, 'maps a label to something that is not a str id');
    labelToId.set(int(k, 'a label'), v);
  }
  // Chroma keeps both directions; they must be inverses, or the labels cannot be trusted.
  const consistent = idToLabelValue.map.size === labelToId.size && [...idToLabelValue.map].every(([id, l]) => typeof id === 'string' && typeof l === 'number' && labelToId.get(l) === id);
  if (!consistent) throw formatError(label, 'has id_to_label and label_to_id that are not inverses of each other');
  return {
    dimensionality: dims === null || dims === undefined ? null : int(dims, 'a dimensionality'),
    totalElementsAdded: int(field('total_elements_added'), 'a total_elements_added'),
    maxSeqId: typeof maxSeq === 'number' && Number.isInteger(maxSeq) ? BigInt(maxSeq) : typeof maxSeq === 'bigint' ? maxSeq : null,
    labelToId,
  };
}
