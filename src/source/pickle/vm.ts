import type { StoredVector } from '../types.js';
import { dataLength, globalArguments, longLength, MAX_NUMBER_LINE, memoArgument } from './args.js';
import { pickleError } from './fail.js';
import { refuseOpcode, resolveGlobal } from './globals.js';
import type { PickleLimits } from './limits.js';
import { MemoKeys } from './memo.js';
import { buildAllowed, reduceAllowed, type NumpyContext } from './numpy.js';
import { OP, opName } from './opcodes.js';
import { OPCODE_LOOKAHEAD, type ByteReader } from './reader.js';
import type { ScanResult } from './scan.js';
import type { VectorChecker } from './shape.js';
import { decodeUtf8, latin1FromUtf8, latin1String, longFromBytes, parseFloatLine, parseIntLine, parseLongLine, parseStringLine, parseUnicodeLine } from './text.js';
import { depthOf, describe, isA, listLength, newList, OBJECT_WEIGHT, weightOf, type FileSlice, type PyList, type TopList, type Value } from './values.js';

/** Structural counters, for tests and diagnostics. */
export interface DecodeStats {
  /**
   * High-water mark of values that may be vectors (lists and arrays) held at once: on the stack,
   * in the memo, or decoded and waiting to be yielded. Python's batches of 1000 appends put
   * 1000 vectors on the stack at most, whatever the size of the store.
   */
  maxHeldVectors: number;
  /** High-water mark of memo slots kept. */
  maxMemoKept: number;
  /** Bytes of str/bytes arguments left in the file instead of being read into memory. */
  bytesLeftInFile: number;
  /** Blocks of rows gathered from a streamed Fortran-order matrix. */
  matrixPasses: number;
  /** High-water mark of the weight of the stack and memo (see weightOf), as last weighed. */
  maxHeldBytes: number;
}

export function newStats(): DecodeStats {
  return { maxHeldVectors: 0, maxMemoKept: 0, bytesLeftInFile: 0, matrixPasses: 0, maxHeldBytes: 0 };
}

/** Longer str arguments of only U+0000..U+00FF stay bytes (see Latin1Str). */
const LONG_STR = 256;
/** Input consumed between two weighings of what the VM holds. */
const WEIGH_EVERY = 1 << 20;

function isVectorLike(value: Value): boolean {
  return isA(value, 'list') || isA(value, 'ndarray');
}

/**
 * The second pass: a pickle VM restricted to data opcodes and the numpy allow-list (the scan has
 * already refused everything else; the checks are repeated here in case the file changed).
 * Items appended to the top-level list are checked and handed out as soon as APPEND/APPENDS adds
 * them, so the list itself never exists; only memo slots that a later GET reads are kept.
 */
export class PickleVM {
  private readonly stack: Value[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, Value>();
  private readonly keys: MemoKeys;
  /** Lists and arrays currently on the stack. */
  private held = 0;
  /**
   * Floats read by consecutive BINFLOATs and not yet pushed: logically the top of the stack.
   * A vector's floats go from here straight into its list when APPENDS takes exactly them,
   * without a JS object per float on the way.
   */
  private floats = new Float64Array(1024);
  private floatCount = 0;
  /** Lists and arrays among the memo values kept. */
  private memoVectors = 0;
  private nextWeighing = 0;
  /**
   * Items appended to the top-level list and not yet handed out. They are converted to vectors
   * one at a time as the consumer takes them, never all at once: one APPENDS can repeat a memoized
   * 65536-float list 10,000 times from a 600 KB file, and converting the batch up front made each
   * repetition its own 512 KB copy (5 GB held at once).
   */
  private pending: Value[] = [];
  private readonly topList: TopList = { type: 'toplist' };
  /** What STOP returned, once it has run. */
  result: Value | undefined = undefined;

  constructor(
    private readonly r: ByteReader,
    private readonly scan: ScanResult,
    private readonly limits: PickleLimits,
    private readonly checker: VectorChecker,
    private readonly numpy: NumpyContext,
    private readonly stats: DecodeStats,
  ) {
    this.keys = new MemoKeys(limits.maxMemoEntries);
  }

  /**
   * Vectors decoded since the last call, in order, each converted (and checked) only when the
   * consumer asks for it. The VM does not run again until they have all been taken.
   */
  *takePending(): Generator<StoredVector> {
    const items = this.pending;
    this.pending = [];
    for (const item of items) yield this.checker.fromListItem(item);
  }

  private noteHeld(): void {
    const held = this.held + this.pending.length + this.memoVectors;
    if (held > this.stats.maxHeldVectors) this.stats.maxHeldVectors = held;
  }

  private push(value: Value): void {
    if (this.stack.length + this.marks.length >= this.limits.maxStackDepth) throw this.stackFull();
    this.stack.push(value);
    if (isVectorLike(value)) {
      this.held++;
      this.noteHeld();
    }
  }

  private floor(): number {
    return this.marks[this.marks.length - 1] ?? 0;
  }

  private pop(op: number, at: number): Value {
    if (this.stack.length <= this.floor()) throw underflow(op, at);
    const value = this.stack.pop() ?? null;
    if (isVectorLike(value)) this.held--;
    return value;
  }

  private top(op: number, at: number): Value {
    if (this.stack.length <= this.floor()) throw underflow(op, at);
    return this.stack[this.stack.length - 1] ?? null;
  }

  private popMark(op: number, at: number): Value[] {
    const mark = this.marks.pop();
    if (mark === undefined) throw pickleError(`has ${opName(op)} at offset ${at} without a MARK before it`);
    const items = this.stack.splice(mark);
    for (const item of items) if (isVectorLike(item)) this.held--;
    return items;
  }

  private stackFull(): Error {
    return pickleError(`grows its stack past ${this.limits.maxStackDepth} entries (limit maxStackDepth) at offset ${this.r.offset}`);
  }

  /** BINFLOAT: this float and the ones right after it, into `floats`. */
  private readFloats(): void {
    const limit = this.limits.maxStackDepth - this.stack.length - this.marks.length;
    if (this.floatCount >= limit) throw this.stackFull();
    if (this.floatCount === this.floats.length) this.growFloats();
    this.floats[this.floatCount++] = this.r.f64be();
    for (;;) {
      const room = Math.min(limit, this.floats.length) - this.floatCount;
      const n = this.r.floatRun(this.floats, this.floatCount, room);
      this.floatCount += n;
      // Stop at the end of the run, of the buffer (the loop refills it and comes back) or of the limit.
      if (n < room || this.floatCount >= limit) return;
      this.growFloats();
    }
  }

  private growFloats(): void {
    const grown = new Float64Array(this.floats.length * 2);
    grown.set(this.floats);
    this.floats = grown;
  }

  /** Puts pending floats on the stack, for any opcode other than the APPENDS that takes them. */
  private flushFloats(): void {
    for (let i = 0; i < this.floatCount; i++) this.stack.push(this.floats[i] ?? 0);
    this.floatCount = 0;
  }

  /** APPENDS whose frame is exactly the pending floats, onto an inner list: the fast path. */
  private appendFloats(at: number): boolean {
    const mark = this.marks[this.marks.length - 1];
    const floor = this.marks[this.marks.length - 2] ?? 0;
    if (mark !== this.stack.length || mark - 1 < floor) return false;
    const target = this.stack[mark - 1] ?? null;
    if (!isA(target, 'list') || target.sealed) return false;
    this.marks.pop();
    const count = this.floatCount;
    this.checkSize(listLength(target) + count, at);
    if (target.items.length === 0) {
      const used = target.floatCount;
      if (target.floats === null || target.floats.length < used + count) {
        const grown = new Float64Array(Math.max(used + count, 2 * used));
        if (target.floats !== null) grown.set(target.floats.subarray(0, used));
        target.floats = grown;
      }
      target.floats.set(this.floats.subarray(0, count), used);
      target.floatCount = used + count;
      target.weight = OBJECT_WEIGHT + 8 * target.floats.length;
    } else {
      for (let i = 0; i < count; i++) target.items.push(this.floats[i] ?? 0);
      target.weight += 24 * count;
    }
    this.floatCount = 0;
    return true;
  }

  private checkSize(size: number, at: number): void {
    if (size > this.limits.maxDimensions) {
      throw pickleError(`builds a container of more than ${this.limits.maxDimensions} items at offset ${at} (limit maxDimensions); only the top-level list may be that long`);
    }
  }

  /**
   * Items going into a container: bounds the nesting, seals the mutable ones (see PyList.sealed)
   * and weighs them. Returns the container's depth and the items' weight.
   */
  private adopt(items: readonly Value[], at: number): { depth: number; weight: number } {
    let depth = 0;
    let weight = 0;
    for (const item of items) {
      depth = Math.max(depth, depthOf(item));
      weight += 8 + weightOf(item);
      if (isA(item, 'list') || isA(item, 'dict') || isA(item, 'ndarray')) item.sealed = true;
    }
    if (depth + 1 > this.limits.maxNesting) throw pickleError(`nests containers more than ${this.limits.maxNesting} deep at offset ${at} (limit maxNesting)`);
    return { depth: depth + 1, weight };
  }

  /**
   * Weighs everything the VM holds. Memory only grows as input is consumed, so weighing every
   * WEIGH_EVERY bytes bounds it to maxHeldBytes plus what one interval can add.
   */
  private weigh(at: number): void {
    let total = 8 * this.floats.length;
    for (const value of this.stack) total += weightOf(value);
    for (const value of this.memo.values()) total += weightOf(value);
    if (total > this.stats.maxHeldBytes) this.stats.maxHeldBytes = total;
    if (total > this.limits.maxHeldBytes) {
      throw pickleError(`would hold about ${total} bytes of decoded values at offset ${at}, over the limit of ${this.limits.maxHeldBytes} (maxHeldBytes)`);
    }
  }

  /** A new list; the one the scan identified as the result is the streamed top-level list. */
  private newList(items: Value[], at: number): void {
    if (at === this.scan.topListAt) {
      this.push(this.topList);
      this.emit(items);
      return;
    }
    this.checkSize(items.length, at);
    const { depth, weight } = this.adopt(items, at);
    this.push(newList(items, depth, OBJECT_WEIGHT + weight));
  }

  /** APPEND/APPENDS/LIST on the top-level list: each item becomes a vector, in order. */
  private emit(items: readonly Value[]): void {
    for (const item of items) this.pending.push(item);
    if (items.length > 0) this.noteHeld();
  }

  private append(target: Value, items: Value[], op: number, at: number): void {
    if (target === this.topList) {
      this.emit(items);
      return;
    }
    if (!isA(target, 'list')) {
      throw pickleError(`has ${opName(op)} at offset ${at} on ${describe(target)}; only lists are appended to`);
    }
    this.appendToList(target, items, at);
  }

  /** Appends to an inner list (a vector being built), within the size and nesting limits. */
  private appendToList(list: PyList, items: Value[], at: number): void {
    if (list.sealed) throw sealedList(at);
    this.checkSize(listLength(list) + items.length, at);
    const { depth, weight } = this.adopt(items, at);
    list.depth = Math.max(list.depth, depth);
    if (list.floats !== null) {
      // Leave the unboxed representation: keep the order of what came before.
      list.items = Array.from(list.floats.subarray(0, list.floatCount));
      list.weight = OBJECT_WEIGHT + 24 * list.floatCount;
      list.floats = null;
      list.floatCount = 0;
    }
    list.weight += weight;
    if (list.items.length === 0) list.items = items;
    else for (const item of items) list.items.push(item);
  }

  private memoize(key: number, op: number, at: number): void {
    const value = this.top(op, at);
    this.keys.add(key);
    this.forget(key);
    const lastRead = this.scan.lastRead.get(key);
    // A value no later GET reads is not kept: keeping it would only hold memory.
    if (lastRead !== undefined && lastRead > at) {
      this.memo.set(key, value);
      if (isVectorLike(value)) this.memoVectors++;
      if (this.memo.size > this.stats.maxMemoKept) this.stats.maxMemoKept = this.memo.size;
      this.noteHeld();
    }
  }

  private forget(key: number): void {
    const old = this.memo.get(key);
    if (old !== undefined && this.memo.delete(key) && isVectorLike(old)) this.memoVectors--;
  }

  private async string(op: number, at: number): Promise<Value> {
    const r = this.r;
    const n = dataLength(r, op, at);
    const isBytes = op === OP.SHORT_BINBYTES || op === OP.BINBYTES || op === OP.BINBYTES8 || op === OP.BYTEARRAY8;
    const isUnicode = op === OP.SHORT_BINUNICODE || op === OP.BINUNICODE || op === OP.BINUNICODE8;
    if (n > this.limits.maxInlineBytes) {
      // Too large to hold: only a 2-D array's data can be this large, and it is streamed later.
      const slice: FileSlice = {
        type: 'slice',
        of: isBytes ? 'bytes' : 'str',
        offset: r.offset,
        length: n,
        encoding: isUnicode ? 'utf8' : 'raw',
        decodedLength: isUnicode ? null : n,
      };
      r.skip(n);
      this.stats.bytesLeftInFile += n;
      return slice;
    }
    const dataAt = r.offset;
    const bytes = await r.bytes(n);
    if (isBytes) return bytes;
    // Python 2 str (BINSTRING) is read as latin-1, as pickle.load(encoding='latin1') does.
    if (!isUnicode) return n > LONG_STR ? { type: 'latin1', bytes } : latin1String(bytes);
    if (n > LONG_STR) {
      const latin1 = latin1FromUtf8(bytes);
      if (latin1 !== null) return { type: 'latin1', bytes: latin1 };
    }
    return decodeUtf8(bytes, at, dataAt);
  }

  /**
   * Runs opcodes until some vectors are ready (true) or STOP has run (false). Awaits only to
   * refill the read buffer, to read a large argument, or for numpy data checks.
   */
  async run(): Promise<boolean> {
    const r = this.r;
    while (this.pending.length === 0) {
      if (r.available < OPCODE_LOOKAHEAD && r.available < r.remaining) await r.fill(OPCODE_LOOKAHEAD);
      const at = r.offset;
      if (r.remaining === 0) throw pickleError(`is truncated: it ends at offset ${at} without a STOP opcode`);
      if (at >= this.nextWeighing) {
        this.weigh(at);
        this.nextWeighing = at + WEIGH_EVERY;
      }
      const op = r.u8();
      if (op === OP.BINFLOAT) {
        this.readFloats();
        continue;
      }
      if (op === OP.FRAME) {
        // Frames (protocol 4+) split the stream every 64 KiB, often inside a run of floats;
        // they do not touch the stack, so the run goes on.
        r.checkLength(r.u64le(), 'FRAME', at);
        continue;
      }
      if (this.floatCount > 0) {
        if (op === OP.APPENDS && this.appendFloats(at)) continue;
        this.flushFloats();
      }
      switch (op) {
        case OP.STOP:
          if (this.marks.length > 0 || this.stack.length !== 1) throw pickleError(`ends with ${this.stack.length} object(s) on its stack instead of one`);
          this.result = this.stack[0] ?? null;
          return false;
        case OP.PROTO:
          r.u8();
          break;
        case OP.MARK:
          if (this.stack.length + this.marks.length >= this.limits.maxStackDepth) {
            throw pickleError(`opens more than ${this.limits.maxStackDepth} MARKs and values (limit maxStackDepth) at offset ${at}`);
          }
          this.marks.push(this.stack.length);
          break;
        case OP.POP:
          if (this.stack.length > this.floor()) this.pop(op, at);
          else this.popMark(op, at);
          break;
        case OP.POP_MARK:
          this.popMark(op, at);
          break;
        case OP.DUP:
          this.push(this.top(op, at));
          break;

        case OP.NONE:
          this.push(null);
          break;
        case OP.NEWTRUE:
          this.push(true);
          break;
        case OP.NEWFALSE:
          this.push(false);
          break;
        case OP.BININT1:
          this.push(r.u8());
          break;
        case OP.BININT2:
          this.push(r.u16le());
          break;
        case OP.BININT:
          this.push(r.i32le());
          break;
        case OP.LONG1:
        case OP.LONG4:
          this.push(longFromBytes(await r.bytes(longLength(r, op, at))));
          break;
        case OP.INT:
          this.push(parseIntLine(await r.line(MAX_NUMBER_LINE, 'INT'), at));
          break;
        case OP.LONG:
          this.push(parseLongLine(await r.line(MAX_NUMBER_LINE, 'LONG'), at));
          break;
        case OP.FLOAT:
          this.push(parseFloatLine(await r.line(MAX_NUMBER_LINE, 'FLOAT'), at));
          break;

        case OP.SHORT_BINUNICODE:
        case OP.BINUNICODE:
        case OP.BINUNICODE8:
        case OP.SHORT_BINSTRING:
        case OP.BINSTRING:
        case OP.SHORT_BINBYTES:
        case OP.BINBYTES:
        case OP.BINBYTES8:
        case OP.BYTEARRAY8:
          this.push(await this.string(op, at));
          break;
        case OP.STRING:
          this.push(parseStringLine(await r.line(this.limits.maxInlineBytes, 'STRING'), at));
          break;
        case OP.UNICODE:
          this.push(parseUnicodeLine(await r.line(this.limits.maxInlineBytes, 'UNICODE'), at));
          break;

        case OP.EMPTY_LIST:
          this.newList([], at);
          break;
        case OP.LIST:
          this.newList(this.popMark(op, at), at);
          break;
        case OP.EMPTY_TUPLE:
          this.push({ type: 'tuple', items: [], depth: 1, weight: OBJECT_WEIGHT });
          break;
        case OP.TUPLE: {
          const items = this.popMark(op, at);
          this.checkSize(items.length, at);
          const { depth, weight } = this.adopt(items, at);
          this.push({ type: 'tuple', items, depth, weight: OBJECT_WEIGHT + weight });
          break;
        }
        case OP.TUPLE1:
        case OP.TUPLE2:
        case OP.TUPLE3: {
          const items: Value[] = [];
          for (let i = op - OP.TUPLE1; i >= 0; i--) items.unshift(this.pop(op, at));
          const { depth, weight } = this.adopt(items, at);
          this.push({ type: 'tuple', items, depth, weight: OBJECT_WEIGHT + weight });
          break;
        }
        case OP.EMPTY_DICT:
          this.push({ type: 'dict', size: 0, depth: 1, weight: OBJECT_WEIGHT, sealed: false });
          break;
        case OP.DICT: {
          const items = this.popMark(op, at);
          if (items.length % 2 !== 0) throw oddPairs(op, at);
          this.checkSize(items.length / 2, at);
          const { depth, weight } = this.adopt(items, at);
          this.push({ type: 'dict', size: items.length / 2, depth, weight: OBJECT_WEIGHT + weight, sealed: false });
          break;
        }
        case OP.SETITEM:
        case OP.SETITEMS: {
          const items = op === OP.SETITEM ? [this.pop(op, at), this.pop(op, at)] : this.popMark(op, at);
          if (items.length % 2 !== 0) throw oddPairs(op, at);
          const dict = this.top(op, at);
          if (!isA(dict, 'dict')) {
            throw pickleError(`has ${opName(op)} at offset ${at} on ${describe(dict)}; only dicts take items`);
          }
          if (dict.sealed) throw pickleError(`changes a dict at offset ${at} after it was placed inside another object`);
          // Keys are not compared, so a repeated key counts twice: the bound stays conservative.
          dict.size += items.length / 2;
          this.checkSize(dict.size, at);
          const { depth, weight } = this.adopt(items, at);
          dict.depth = Math.max(dict.depth, depth);
          dict.weight += weight;
          break;
        }
        case OP.APPEND: {
          const item = this.pop(op, at);
          this.append(this.top(op, at), [item], op, at);
          break;
        }
        case OP.APPENDS: {
          const items = this.popMark(op, at);
          this.append(this.top(op, at), items, op, at);
          break;
        }

        case OP.PUT:
        case OP.BINPUT:
        case OP.LONG_BINPUT:
          this.memoize(await memoArgument(r, op, at), op, at);
          break;
        case OP.MEMOIZE:
          this.memoize(this.keys.size, op, at);
          break;
        case OP.GET:
        case OP.BINGET:
        case OP.LONG_BINGET: {
          const key = await memoArgument(r, op, at);
          const value = this.memo.get(key);
          if (value === undefined) throw pickleError(`reads memo slot ${key} at offset ${at}, which holds nothing (the file changed since it was scanned?)`);
          if (this.scan.lastRead.get(key) === at) this.forget(key);
          this.push(value);
          break;
        }

        case OP.GLOBAL: {
          const [module, name] = await globalArguments(r, op, at);
          this.push(resolveGlobal(module, name));
          break;
        }
        case OP.STACK_GLOBAL: {
          const name = this.pop(op, at);
          const module = this.pop(op, at);
          if (typeof module !== 'string' || typeof name !== 'string') throw pickleError(`has STACK_GLOBAL at offset ${at} on ${describe(module)} and ${describe(name)} instead of two str`);
          this.push(resolveGlobal(module, name));
          break;
        }
        case OP.REDUCE: {
          const args = this.pop(op, at);
          const callable = this.pop(op, at);
          if (!isA(callable, 'global')) {
            throw pickleError(`has REDUCE at offset ${at} calling ${describe(callable)}; only numpy's allowed globals are called`);
          }
          this.push(await reduceAllowed(callable, args, this.numpy));
          break;
        }
        case OP.BUILD: {
          const state = this.pop(op, at);
          const target = this.top(op, at);
          if (!isA(target, 'ndarray') && !isA(target, 'dtype')) {
            throw pickleError(`has BUILD at offset ${at} on ${describe(target)}; only numpy arrays and dtypes take a state`);
          }
          await buildAllowed(target, state, this.numpy);
          break;
        }
        default:
          // Everything else was refused by the scan; refusing again costs nothing.
          throw refuseOpcode(op, at);
      }
    }
    return true;
  }
}

function sealedList(at: number): Error {
  return pickleError(`appends at offset ${at} to a list that is already a vector of the store or inside another object; pickle.dump never does that`);
}

function underflow(op: number, at: number): Error {
  return pickleError(`has ${opName(op)} at offset ${at} with too few objects on the stack (corrupt file?)`);
}

function oddPairs(op: number, at: number): Error {
  return pickleError(`has ${opName(op)} at offset ${at} with an odd number of keys and values`);
}
