import { MigrateError } from '../../errors.js';
import { qualifiedName } from '../pickle/globals.js';
import { OP, opName } from '../pickle/opcodes.js';
import { longFromBytes } from '../pickle/text.js';

/**
 * A restricted unpickler for pickles of plain data plus a few allow-listed classes (LangChain's
 * docstore). It interprets the binary opcodes of protocols 2 to 5 and calls nothing: an allowed
 * class becomes a `PyClass` record, NEWOBJ on it a `PyInstance` whose BUILD state is kept as
 * data, and the only REDUCE it accepts is `set(list)`, which protocols 2 and 3 write for sets.
 * Any other global is refused (E_UNSAFE_PICKLE) the moment the pickle names it, before
 * anything else happens. Objects shared through the memo stay shared (and may form cycles);
 * whoever walks the result bounds its depth.
 */

export type PyValue = null | boolean | number | bigint | string | PyBytes | PyList | PyTuple | PyDict | PySet | PyInstance | PyClass | PySetType;

export interface PyBytes {
  readonly kind: 'bytes';
  readonly bytes: Uint8Array;
}
export interface PyList {
  readonly kind: 'list';
  readonly items: PyValue[];
}
export interface PyTuple {
  readonly kind: 'tuple';
  readonly items: readonly PyValue[];
}
/** Keys in insertion order; `index` finds a hashable key's pair (a repeated key overwrites, as in Python). */
export interface PyDict {
  readonly kind: 'dict';
  readonly pairs: [PyValue, PyValue][];
  readonly index: Map<string, number>;
}
export interface PySet {
  readonly kind: 'set';
  readonly items: PyValue[];
  readonly index: Set<string>;
  readonly frozen: boolean;
}
/** An allow-listed class, by its qualified name (`langchain_core.documents.base.Document`). */
export interface PyClass {
  readonly kind: 'class';
  readonly name: string;
}
/** `builtins.set` / `builtins.frozenset`, as protocols 2 and 3 pickle sets. */
export interface PySetType {
  readonly kind: 'settype';
  readonly frozen: boolean;
}
/** `cls.__new__(cls)` followed by BUILD: the class name and the state, never a live object. */
export interface PyInstance {
  readonly kind: 'instance';
  readonly cls: string;
  state: PyValue | undefined;
}

export interface DataPickleOptions {
  /** How errors name the file: `index.pkl (/path/to/index.pkl)`. */
  readonly file: string;
  /** Qualified names (`module.name`) of the classes the pickle may instantiate. */
  readonly classes: ReadonlySet<string>;
  /** Approximate bytes of decoded values the pickle may make us hold (see WEIGHT). */
  readonly maxHeldBytes: number;
}

const SET_TYPES: ReadonlyMap<string, boolean> = new Map([
  ['builtins.set', false],
  ['builtins.frozenset', true],
  ['__builtin__.set', false],
  ['__builtin__.frozenset', true],
]);

/** Rough bytes each decoded value costs, charged against maxHeldBytes as values are made. */
const WEIGHT = { value: 16, container: 96, item: 16 } as const;
const MAX_STACK = 100_000;
const MAX_MARKS = 10_000;
/** Characters of a tuple's lookup key (see hashKey). */
const MAX_TUPLE_KEY = 4096;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A key for dict/set lookup, equal exactly when Python's keys are equal; null when unhashable here. */
export function hashKey(value: PyValue, depth = 0): string | null {
  if (value === null) return 'n';
  switch (typeof value) {
    case 'string':
      return `s${value}`;
    case 'boolean':
      return value ? 'i1' : 'i0';
    case 'bigint':
      return `i${value}`;
    case 'number':
      return Number.isInteger(value) ? `i${BigInt(value)}` : `f${value}`;
    default:
      break;
  }
  if (value.kind === 'bytes') return `b${Buffer.from(value.bytes).toString('latin1')}`;
  // A deep or long tuple is treated as unhashable (kept, never merged with an equal one): its
  // key would cost deep recursion, or a string as long as all its (possibly shared) items.
  if (value.kind === 'tuple' && depth < 16) {
    const parts: string[] = [];
    let length = 0;
    for (const item of value.items) {
      const part = hashKey(item, depth + 1);
      length += part?.length ?? 0;
      if (part === null || length > MAX_TUPLE_KEY) return null;
      parts.push(part);
    }
    return `t${JSON.stringify(parts)}`;
  }
  return null;
}

export function describePy(value: PyValue | undefined): string {
  if (value === undefined || value === null) return 'None';
  switch (typeof value) {
    case 'string':
      return 'a str';
    case 'boolean':
      return 'a bool';
    case 'bigint':
      return 'an int';
    case 'number':
      return Number.isInteger(value) ? 'an int' : 'a float';
    default:
      break;
  }
  switch (value.kind) {
    case 'bytes':
      return 'a bytes object';
    case 'list':
      return 'a list';
    case 'tuple':
      return `a tuple of ${value.items.length}`;
    case 'dict':
      return 'a dict';
    case 'set':
      return value.frozen ? 'a frozenset' : 'a set';
    case 'class':
      return `the class ${value.name}`;
    case 'settype':
      return value.frozen ? 'frozenset' : 'set';
    case 'instance':
      return `a ${value.cls}`;
  }
}

export function dictGet(dict: PyDict, key: string): PyValue | undefined {
  const at = dict.index.get(`s${key}`);
  return at === undefined ? undefined : dict.pairs[at]?.[1];
}

function newDict(): PyDict {
  return { kind: 'dict', pairs: [], index: new Map() };
}

function newSet(frozen: boolean): PySet {
  return { kind: 'set', items: [], index: new Set(), frozen };
}

function setItem(dict: PyDict, key: PyValue, value: PyValue): void {
  const hash = hashKey(key);
  const at = hash === null ? undefined : dict.index.get(hash);
  if (at !== undefined) {
    const pair = dict.pairs[at];
    if (pair !== undefined) pair[1] = value;
    return;
  }
  if (hash !== null) dict.index.set(hash, dict.pairs.length);
  dict.pairs.push([key, value]);
}

function addItem(set: PySet, item: PyValue): void {
  const hash = hashKey(item);
  if (hash !== null) {
    if (set.index.has(hash)) return;
    set.index.add(hash);
  }
  set.items.push(item);
}

/** Bytes of the lookup keys (see hashKey) that a dict or set keeps for `items` (every `step`-th is a key). */
function keyWeight(items: readonly PyValue[], step: number): number {
  let weight = 0;
  for (let i = 0; i < items.length; i += step) {
    const key = items[i];
    if (typeof key === 'string') weight += 2 * key.length;
    else if (key !== null && typeof key === 'object' && key.kind === 'bytes') weight += 2 * key.bytes.length;
    else if (key !== null && typeof key === 'object' && key.kind === 'tuple') weight += 2 * MAX_TUPLE_KEY;
  }
  return weight;
}

/** Decodes a whole pickle held in memory. Never calls, imports or executes anything it names. */
export function unpickleData(bytes: Uint8Array, options: DataPickleOptions): PyValue {
  return new DataVM(bytes, options).run();
}

class DataVM {
  private pos = 0;
  private readonly view: DataView;
  private readonly stack: PyValue[] = [];
  private readonly marks: number[] = [];
  /**
   * The memo: Python's pickler numbers slots 0, 1, 2, ... so they live in an array; slots written
   * out of order (hand-made pickles) in a map. A docstore memoizes almost every value, and one
   * Map entry per value cost a third of the decoding time.
   */
  private readonly memo: PyValue[] = [];
  private readonly sparseMemo = new Map<number, PyValue>();
  private budget: number;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: DataPickleOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.budget = options.maxHeldBytes;
  }

  private fail(message: string): MigrateError {
    return new MigrateError('E_FORMAT', `${this.options.file} ${message}; the docstore cannot be read (re-save it with FAISS.save_local, or restore the original file)`);
  }

  private charge(bytes: number, at: number): void {
    this.budget -= bytes;
    if (this.budget < 0) {
      throw this.fail(`would make the reader hold more than ${this.options.maxHeldBytes} bytes of decoded values (at offset ${at}): it is corrupt or hostile`);
    }
  }

  private need(n: number, what: string, at: number): void {
    if (n > this.bytes.length - this.pos) {
      throw this.fail(`is truncated: ${what} at offset ${at} needs ${n} byte(s) but only ${this.bytes.length - this.pos} remain`);
    }
  }

  private u8(at: number, what: string): number {
    this.need(1, what, at);
    return this.view.getUint8(this.pos++);
  }

  private u16(at: number, what: string): number {
    this.need(2, what, at);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  private u32(at: number, what: string): number {
    this.need(4, what, at);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  private i32(at: number, what: string): number {
    this.need(4, what, at);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** A uint64 length; values past 2^53 are larger than any file, and fail `need` anyway. */
  private u64(at: number, what: string): number {
    this.need(8, what, at);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }

  private take(n: number, at: number, what: string): Uint8Array {
    this.need(n, what, at);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private text(n: number, at: number, what: string): string {
    const raw = this.take(n, at, what);
    this.charge(WEIGHT.value + 2 * n, at);
    try {
      return utf8.decode(raw);
    } catch {
      throw this.fail(`holds a str at offset ${at} that is not valid UTF-8`);
    }
  }

  private push(value: PyValue, at: number): void {
    if (this.stack.length >= MAX_STACK) throw this.fail(`grows its stack past ${MAX_STACK} entries at offset ${at}`);
    this.stack.push(value);
  }

  private floor(): number {
    return this.marks[this.marks.length - 1] ?? 0;
  }

  private pop(op: number, at: number): PyValue {
    if (this.stack.length <= this.floor()) throw this.fail(`has ${opName(op)} at offset ${at} with too few objects on the stack`);
    return this.stack.pop() ?? null;
  }

  private top(op: number, at: number): PyValue {
    if (this.stack.length <= this.floor()) throw this.fail(`has ${opName(op)} at offset ${at} with too few objects on the stack`);
    return this.stack[this.stack.length - 1] ?? null;
  }

  private popMark(op: number, at: number): PyValue[] {
    const mark = this.marks.pop();
    if (mark === undefined) throw this.fail(`has ${opName(op)} at offset ${at} without a MARK before it`);
    return this.stack.splice(mark);
  }

  private resolve(module: string, name: string, at: number): PyValue {
    const qualified = `${module}.${name}`;
    if (this.options.classes.has(qualified)) return { kind: 'class', name: qualified };
    const frozen = SET_TYPES.get(qualified);
    if (frozen !== undefined) return { kind: 'settype', frozen };
    throw new MigrateError(
      'E_UNSAFE_PICKLE',
      `${this.options.file} references the global ${qualifiedName(module, name)} (at offset ${at}), which is not one of the docstore classes this reader allows; refused without running anything. A LangChain FAISS docstore names only InMemoryDocstore and Document: this file was written by other code or tampered with`,
    );
  }

  private memoize(key: number, op: number, at: number): void {
    const value = this.top(op, at);
    this.charge(WEIGHT.item, at);
    if (key < this.memo.length) {
      this.memo[key] = value;
      return;
    }
    if (key > this.memo.length) {
      this.sparseMemo.set(key, value);
      return;
    }
    this.memo.push(value);
    // A slot written early, out of order, is now part of the dense prefix.
    for (let next = this.memo.length; this.sparseMemo.has(next); next++) {
      this.memo.push(this.sparseMemo.get(next) ?? null);
      this.sparseMemo.delete(next);
    }
  }

  /** `len(memo)`, where MEMOIZE stores. */
  private memoSize(): number {
    return this.memo.length + this.sparseMemo.size;
  }

  private get(key: number, at: number): void {
    const value = key < this.memo.length ? this.memo[key] : this.sparseMemo.get(key);
    if (value === undefined) throw this.fail(`reads memo slot ${key} at offset ${at}, which was never written`);
    this.push(value, at);
  }

  private instantiate(cls: PyValue, args: PyValue, op: number, at: number): PyInstance {
    if (cls === null || typeof cls !== 'object' || cls.kind !== 'class') throw this.fail(`has ${opName(op)} at offset ${at} on ${describePy(cls)} instead of an allowed class`);
    if (args === null || typeof args !== 'object' || args.kind !== 'tuple' || args.items.length > 0) {
      throw this.fail(`creates ${cls.name} at offset ${at} with arguments (${describePy(args)}); pickle writes these classes with no arguments`);
    }
    return { kind: 'instance', cls: cls.name, state: undefined };
  }

  private strOf(value: PyValue, op: number, at: number): string {
    if (typeof value !== 'string') throw this.fail(`has ${opName(op)} at offset ${at} on ${describePy(value)} instead of a str`);
    return value;
  }

  private line(at: number, what: string): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > 1024) throw this.fail(`has a ${what} line at offset ${at} without an end`);
    const raw = this.bytes.subarray(this.pos, end);
    this.pos = end + 1;
    try {
      return utf8.decode(raw);
    } catch {
      throw this.fail(`has a ${what} line at offset ${at} that is not valid UTF-8`);
    }
  }

  run(): PyValue {
    for (;;) {
      const at = this.pos;
      if (at >= this.bytes.length) throw this.fail(`is truncated: it ends at offset ${at} without a STOP opcode`);
      const op = this.u8(at, 'an opcode');
      this.charge(WEIGHT.value, at);
      switch (op) {
        case OP.PROTO: {
          const protocol = this.u8(at, 'PROTO');
          if (protocol < 2 || protocol > 5) throw this.fail(`declares pickle protocol ${protocol} at offset ${at}; protocols 2 to 5 are read`);
          break;
        }
        case OP.FRAME: {
          const n = this.u64(at, 'FRAME');
          this.need(n, 'FRAME', at);
          break;
        }
        case OP.STOP: {
          if (this.marks.length > 0 || this.stack.length !== 1) throw this.fail(`ends with ${this.stack.length} object(s) on its stack instead of one`);
          return this.stack[0] ?? null;
        }
        case OP.MARK:
          if (this.marks.length >= MAX_MARKS) throw this.fail(`opens more than ${MAX_MARKS} MARKs at once at offset ${at}`);
          this.marks.push(this.stack.length);
          break;
        case OP.POP:
          if (this.stack.length > this.floor()) this.stack.pop();
          else this.popMark(op, at);
          break;
        case OP.POP_MARK:
          this.popMark(op, at);
          break;
        case OP.DUP:
          this.push(this.top(op, at), at);
          break;

        case OP.NONE:
          this.push(null, at);
          break;
        case OP.NEWTRUE:
          this.push(true, at);
          break;
        case OP.NEWFALSE:
          this.push(false, at);
          break;
        case OP.BININT1:
          this.push(this.u8(at, 'BININT1'), at);
          break;
        case OP.BININT2:
          this.push(this.u16(at, 'BININT2'), at);
          break;
        case OP.BININT:
          this.push(this.i32(at, 'BININT'), at);
          break;
        case OP.LONG1:
        case OP.LONG4: {
          const n = op === OP.LONG1 ? this.u8(at, 'LONG1') : this.i32(at, 'LONG4');
          if (n < 0 || n > 64) throw this.fail(`holds an integer of ${n} bytes at offset ${at}; a docstore has no such numbers`);
          this.push(longFromBytes(this.take(n, at, opName(op))), at);
          break;
        }
        case OP.BINFLOAT: {
          this.need(8, 'BINFLOAT', at);
          this.push(this.view.getFloat64(this.pos, false), at);
          this.pos += 8;
          break;
        }

        case OP.SHORT_BINUNICODE:
          this.push(this.text(this.u8(at, opName(op)), at, opName(op)), at);
          break;
        case OP.BINUNICODE:
          this.push(this.text(this.u32(at, opName(op)), at, opName(op)), at);
          break;
        case OP.BINUNICODE8:
          this.push(this.text(this.u64(at, opName(op)), at, opName(op)), at);
          break;
        case OP.SHORT_BINSTRING:
        case OP.BINSTRING: {
          // Python 2 str, read as latin-1 (pickle.load(encoding='latin1')).
          const n = op === OP.SHORT_BINSTRING ? this.u8(at, opName(op)) : this.i32(at, opName(op));
          if (n < 0) throw this.fail(`declares a negative length for ${opName(op)} at offset ${at}`);
          this.charge(WEIGHT.value + 2 * n, at);
          this.push(Buffer.from(this.take(n, at, opName(op))).toString('latin1'), at);
          break;
        }
        case OP.SHORT_BINBYTES:
        case OP.BINBYTES:
        case OP.BINBYTES8:
        case OP.BYTEARRAY8: {
          const n = op === OP.SHORT_BINBYTES ? this.u8(at, opName(op)) : op === OP.BINBYTES ? this.u32(at, opName(op)) : this.u64(at, opName(op));
          this.charge(WEIGHT.value + n, at);
          this.push({ kind: 'bytes', bytes: this.take(n, at, opName(op)).slice() }, at);
          break;
        }

        case OP.EMPTY_LIST:
          this.charge(WEIGHT.container, at);
          this.push({ kind: 'list', items: [] }, at);
          break;
        case OP.LIST: {
          const items = this.popMark(op, at);
          this.charge(WEIGHT.container + WEIGHT.item * items.length, at);
          this.push({ kind: 'list', items }, at);
          break;
        }
        case OP.APPEND:
        case OP.APPENDS: {
          const items = op === OP.APPEND ? [this.pop(op, at)] : this.popMark(op, at);
          const list = this.top(op, at);
          if (list === null || typeof list !== 'object' || list.kind !== 'list') throw this.fail(`has ${opName(op)} at offset ${at} on ${describePy(list)}; only lists are appended to`);
          this.charge(WEIGHT.item * items.length, at);
          for (const item of items) list.items.push(item);
          break;
        }
        case OP.EMPTY_TUPLE:
          this.push({ kind: 'tuple', items: [] }, at);
          break;
        case OP.TUPLE: {
          const items = this.popMark(op, at);
          this.charge(WEIGHT.container + WEIGHT.item * items.length, at);
          this.push({ kind: 'tuple', items }, at);
          break;
        }
        case OP.TUPLE1:
        case OP.TUPLE2:
        case OP.TUPLE3: {
          const items: PyValue[] = [];
          for (let i = op - OP.TUPLE1; i >= 0; i--) items.unshift(this.pop(op, at));
          this.charge(WEIGHT.container + WEIGHT.item * items.length, at);
          this.push({ kind: 'tuple', items }, at);
          break;
        }
        case OP.EMPTY_DICT:
          this.charge(WEIGHT.container, at);
          this.push(newDict(), at);
          break;
        case OP.DICT:
        case OP.SETITEM:
        case OP.SETITEMS: {
          const items = op === OP.SETITEM ? [this.pop(op, at), this.pop(op, at)].reverse() : this.popMark(op, at);
          if (items.length % 2 !== 0) throw this.fail(`has ${opName(op)} at offset ${at} with an odd number of keys and values`);
          const dict = op === OP.DICT ? newDict() : this.top(op, at);
          if (dict === null || typeof dict !== 'object' || dict.kind !== 'dict') throw this.fail(`has ${opName(op)} at offset ${at} on ${describePy(dict)}; only dicts take items`);
          this.charge(WEIGHT.container + 2 * WEIGHT.item * items.length + keyWeight(items, 2), at);
          for (let i = 0; i < items.length; i += 2) setItem(dict, items[i] ?? null, items[i + 1] ?? null);
          if (op === OP.DICT) this.push(dict, at);
          break;
        }
        case OP.EMPTY_SET:
          this.charge(WEIGHT.container, at);
          this.push(newSet(false), at);
          break;
        case OP.ADDITEMS: {
          const items = this.popMark(op, at);
          const set = this.top(op, at);
          if (set === null || typeof set !== 'object' || set.kind !== 'set' || set.frozen) throw this.fail(`has ADDITEMS at offset ${at} on ${describePy(set)}; only sets take items`);
          this.charge(2 * WEIGHT.item * items.length + keyWeight(items, 1), at);
          for (const item of items) addItem(set, item);
          break;
        }
        case OP.FROZENSET: {
          const items = this.popMark(op, at);
          const set = newSet(true);
          this.charge(WEIGHT.container + 2 * WEIGHT.item * items.length + keyWeight(items, 1), at);
          for (const item of items) addItem(set, item);
          this.push(set, at);
          break;
        }

        case OP.BINPUT:
          this.memoize(this.u8(at, opName(op)), op, at);
          break;
        case OP.LONG_BINPUT:
          this.memoize(this.u32(at, opName(op)), op, at);
          break;
        case OP.MEMOIZE:
          this.memoize(this.memoSize(), op, at);
          break;
        case OP.BINGET:
          this.get(this.u8(at, opName(op)), at);
          break;
        case OP.LONG_BINGET:
          this.get(this.u32(at, opName(op)), at);
          break;

        case OP.GLOBAL: {
          const module = this.line(at, 'GLOBAL');
          const name = this.line(at, 'GLOBAL');
          this.push(this.resolve(module, name, at), at);
          break;
        }
        case OP.STACK_GLOBAL: {
          const name = this.strOf(this.pop(op, at), op, at);
          const module = this.strOf(this.pop(op, at), op, at);
          this.push(this.resolve(module, name, at), at);
          break;
        }
        case OP.INST: {
          // Protocol 0/1 instantiation names its class inline: refuse unknown ones as unsafe first.
          const module = this.line(at, 'INST');
          const name = this.line(at, 'INST');
          this.resolve(module, name, at);
          throw this.fail(`instantiates ${module}.${name} with INST at offset ${at} (pickle protocol 0/1), which this reader does not read`);
        }
        case OP.NEWOBJ: {
          const args = this.pop(op, at);
          const cls = this.pop(op, at);
          this.charge(WEIGHT.container, at);
          this.push(this.instantiate(cls, args, op, at), at);
          break;
        }
        case OP.NEWOBJ_EX: {
          const kwargs = this.pop(op, at);
          const args = this.pop(op, at);
          const cls = this.pop(op, at);
          if (kwargs === null || typeof kwargs !== 'object' || kwargs.kind !== 'dict' || kwargs.pairs.length > 0) {
            throw this.fail(`has NEWOBJ_EX at offset ${at} with keyword arguments (${describePy(kwargs)})`);
          }
          this.charge(WEIGHT.container, at);
          this.push(this.instantiate(cls, args, op, at), at);
          break;
        }
        case OP.REDUCE: {
          const args = this.pop(op, at);
          const callable = this.pop(op, at);
          if (callable === null || typeof callable !== 'object' || callable.kind !== 'settype') {
            throw this.fail(`has REDUCE at offset ${at} calling ${describePy(callable)}; only set() and frozenset() are interpreted`);
          }
          const items = args !== null && typeof args === 'object' && args.kind === 'tuple' ? args.items : null;
          const source = items?.length === 0 ? { kind: 'list' as const, items: [] } : items?.length === 1 ? items[0] : null;
          if (source === null || source === undefined || typeof source !== 'object' || source.kind !== 'list') {
            throw this.fail(`has REDUCE at offset ${at} calling ${describePy(callable)} on ${describePy(args)}; pickle writes set(list)`);
          }
          const set = newSet(callable.frozen);
          this.charge(WEIGHT.container + 2 * WEIGHT.item * source.items.length + keyWeight(source.items, 1), at);
          for (const item of source.items) addItem(set, item);
          this.push(set, at);
          break;
        }
        case OP.BUILD: {
          const state = this.pop(op, at);
          const target = this.top(op, at);
          if (target === null || typeof target !== 'object' || target.kind !== 'instance') throw this.fail(`has BUILD at offset ${at} on ${describePy(target)}; only allowed class instances take a state`);
          if (target.state !== undefined) throw this.fail(`sets the state of a ${target.cls} twice (BUILD at offset ${at})`);
          target.state = state;
          break;
        }

        case OP.PERSID:
        case OP.BINPERSID:
        case OP.EXT1:
        case OP.EXT2:
        case OP.EXT4:
          throw new MigrateError(
            'E_UNSAFE_PICKLE',
            `${this.options.file} uses ${opName(op)} at offset ${at} (a persistent id or a copyreg extension code), which resolves objects through application code; refused without running anything`,
          );
        default:
          throw this.fail(`has the opcode ${opName(op)} at offset ${at}, which a LangChain docstore pickle (protocol 2 to 5) never holds (corrupt file?)`);
      }
    }
  }
}
