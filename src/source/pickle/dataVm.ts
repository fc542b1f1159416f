import { MigrateError } from '../../errors.js';
import type { DataPickleProfile } from './allowList.js';
import { qualifiedName } from './globals.js';
import { MemoValues } from './memo.js';
import { MemoryInput } from './memoryInput.js';
import { OP, opName } from './opcodes.js';
import { addItem, describePy, keyWeight, newDict, newSet, setItem, type PyInstance, type PyValue } from './pyData.js';
import { longFromBytes } from './text.js';

/**
 * The safe machine for data pickles: plain data plus the classes a format allow-lists (LangChain's
 * docstore, Chroma's HNSW id map). It interprets the binary opcodes of protocols 2 to 5 and calls
 * nothing: an allowed class becomes a `PyClass` record, NEWOBJ on it a `PyInstance` whose BUILD
 * state is kept as data, and the only REDUCE it accepts is `set(list)` when the allow-list holds
 * the set types (protocols 2 and 3 write sets that way). Any other global is refused
 * (E_UNSAFE_PICKLE) the moment the pickle names it, before anything else happens.
 *
 * vectors.pkl, which can be far larger than memory, is decoded by the streaming VM (vm.ts) instead;
 * both share the opcode table, how a refused global is named (qualifiedName) and the integer decoding.
 */

/** Rough bytes each decoded value costs, charged against maxHeldBytes as values are made. */
const WEIGHT = { value: 16, container: 96, item: 16 } as const;
const MAX_STACK = 100_000;
const MAX_MARKS = 10_000;

/** Decodes a whole pickle held in memory. Never calls, imports or executes anything it names. */
export function unpickle(bytes: Uint8Array, profile: DataPickleProfile): PyValue {
  return new DataVM(bytes, profile).run();
}

class DataVM {
  private readonly input: MemoryInput;
  private readonly stack: PyValue[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new MemoValues<PyValue>();
  private budget: number;

  constructor(
    bytes: Uint8Array,
    private readonly profile: DataPickleProfile,
  ) {
    this.input = new MemoryInput(bytes, (message) => this.fail(message));
    this.budget = profile.maxHeldBytes;
  }

  private fail(message: string): MigrateError {
    return new MigrateError('E_FORMAT', `${this.profile.file} ${message}; ${this.profile.remedy}`);
  }

  private charge(bytes: number, at: number): void {
    this.budget -= bytes;
    if (this.budget < 0) {
      throw this.fail(`would make the reader hold more than ${this.profile.maxHeldBytes} bytes of decoded values (at offset ${at}): it is corrupt or hostile`);
    }
  }

  /** A str of `n` bytes, charged before it is decoded. */
  private text(n: number, at: number, what: string): string {
    this.input.need(n, what, at);
    this.charge(WEIGHT.value + 2 * n, at);
    return this.input.text(n, at, what);
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
    switch (this.profile.allow.get(qualified)) {
      case 'instance':
        return { kind: 'class', name: qualified };
      case 'set':
        return { kind: 'settype', frozen: false };
      case 'frozenset':
        return { kind: 'settype', frozen: true };
      case undefined:
        throw new MigrateError(
          'E_UNSAFE_PICKLE',
          `${this.profile.file} references the global ${qualifiedName(module, name)} (at offset ${at}), which is not on the allow-list of ${this.profile.kind}; refused without running anything. ${this.profile.expected}`,
        );
    }
  }

  private memoize(key: number, op: number, at: number): void {
    const value = this.top(op, at);
    this.charge(WEIGHT.item, at);
    this.memo.set(key, value);
  }

  private get(key: number, at: number): void {
    const value = this.memo.get(key);
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

  run(): PyValue {
    for (;;) {
      const at = this.input.pos;
      if (at >= this.input.length) throw this.fail(`is truncated: it ends at offset ${at} without a STOP opcode`);
      const op = this.input.u8(at, 'an opcode');
      this.charge(WEIGHT.value, at);
      switch (op) {
        case OP.PROTO: {
          const protocol = this.input.u8(at, 'PROTO');
          if (protocol < 2 || protocol > 5) throw this.fail(`declares pickle protocol ${protocol} at offset ${at}; protocols 2 to 5 are read`);
          break;
        }
        case OP.FRAME: {
          const n = this.input.u64(at, 'FRAME');
          this.input.need(n, 'FRAME', at);
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
          this.push(this.input.u8(at, 'BININT1'), at);
          break;
        case OP.BININT2:
          this.push(this.input.u16(at, 'BININT2'), at);
          break;
        case OP.BININT:
          this.push(this.input.i32(at, 'BININT'), at);
          break;
        case OP.LONG1:
        case OP.LONG4: {
          const n = op === OP.LONG1 ? this.input.u8(at, 'LONG1') : this.input.i32(at, 'LONG4');
          if (n < 0 || n > 64) throw this.fail(`holds an integer of ${n} bytes at offset ${at}; ${this.profile.kind} has no such numbers`);
          this.push(longFromBytes(this.input.take(n, at, opName(op))), at);
          break;
        }
        case OP.BINFLOAT: {
          this.push(this.input.f64be(at, 'BINFLOAT'), at);
          break;
        }

        case OP.SHORT_BINUNICODE:
          this.push(this.text(this.input.u8(at, opName(op)), at, opName(op)), at);
          break;
        case OP.BINUNICODE:
          this.push(this.text(this.input.u32(at, opName(op)), at, opName(op)), at);
          break;
        case OP.BINUNICODE8:
          this.push(this.text(this.input.u64(at, opName(op)), at, opName(op)), at);
          break;
        case OP.SHORT_BINSTRING:
        case OP.BINSTRING: {
          // Python 2 str, read as latin-1 (pickle.load(encoding='latin1')).
          const n = op === OP.SHORT_BINSTRING ? this.input.u8(at, opName(op)) : this.input.i32(at, opName(op));
          if (n < 0) throw this.fail(`declares a negative length for ${opName(op)} at offset ${at}`);
          this.charge(WEIGHT.value + 2 * n, at);
          this.push(Buffer.from(this.input.take(n, at, opName(op))).toString('latin1'), at);
          break;
        }
        case OP.SHORT_BINBYTES:
        case OP.BINBYTES:
        case OP.BINBYTES8:
        case OP.BYTEARRAY8: {
          const n = op === OP.SHORT_BINBYTES ? this.input.u8(at, opName(op)) : op === OP.BINBYTES ? this.input.u32(at, opName(op)) : this.input.u64(at, opName(op));
          this.charge(WEIGHT.value + n, at);
          this.push({ kind: 'bytes', bytes: this.input.take(n, at, opName(op)).slice() }, at);
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
          this.memoize(this.input.u8(at, opName(op)), op, at);
          break;
        case OP.LONG_BINPUT:
          this.memoize(this.input.u32(at, opName(op)), op, at);
          break;
        case OP.MEMOIZE:
          this.memoize(this.memo.size, op, at);
          break;
        case OP.BINGET:
          this.get(this.input.u8(at, opName(op)), at);
          break;
        case OP.LONG_BINGET:
          this.get(this.input.u32(at, opName(op)), at);
          break;

        case OP.GLOBAL: {
          const module = this.input.line(at, 'GLOBAL');
          const name = this.input.line(at, 'GLOBAL');
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
          const module = this.input.line(at, 'INST');
          const name = this.input.line(at, 'INST');
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
            `${this.profile.file} uses ${opName(op)} at offset ${at} (a persistent id or a copyreg extension code), which resolves objects through application code; refused without running anything`,
          );
        default:
          throw this.fail(`has the opcode ${opName(op)} at offset ${at}, which ${this.profile.kind} (protocol 2 to 5) never holds (corrupt file?)`);
      }
    }
  }
}
