import { dataLength, globalArguments, longLength, MAX_NUMBER_LINE, memoArgument } from './args.js';
import { pickleError, unsafeFeature } from './fail.js';
import { ALLOWED_PARTS, refuseOpcode, resolveGlobal } from './globals.js';
import type { PickleLimits } from './limits.js';
import { MemoKeys } from './memo.js';
import { HIGHEST_PROTOCOL, OP, opName, opProtocol } from './opcodes.js';
import { OPCODE_LOOKAHEAD, type ByteReader } from './reader.js';
import { decodeUtf8, latin1String, parseStringLine, parseUnicodeLine } from './text.js';

/** What the first pass learns for the second. */
export interface ScanResult {
  /** PROTO's argument, or the highest protocol among the opcodes when there is no PROTO. */
  protocol: number;
  /** Memo slot -> offset of the last GET that reads it. Only these slots are ever kept. */
  lastRead: Map<number, number>;
  /** Offset of the EMPTY_LIST/LIST that made the object STOP returns, when it is such a list. */
  topListAt: number | null;
}

/** Any value the scan does not need to know. */
const OTHER = Symbol('other');
/** A list, identified by where it was made, to find the top-level list. */
interface ListToken {
  readonly listAt: number;
}
/** Strings are kept (up to a short length) because STACK_GLOBAL takes its names from the stack. */
type Shadow = string | ListToken | typeof OTHER;

const SHORT_STR = 256;
/** Recent memoized strings outside the allow-list, kept only to name a refused global. */
const NAME_CACHE = 256;

/**
 * The first pass. It walks every opcode without building anything: values are stand-ins, except
 * short strings. It proves, before a single vector is produced, that the file is a complete
 * pickle (no truncation, no bad opcode, no declared length past the end, stack and memo within
 * limits) and references no global outside the allow-list; it also records which memo slots are
 * read back, so the second pass keeps only those, and which list is the top-level one, so the
 * second pass can stream it.
 */
export async function scanPickle(r: ByteReader, limits: PickleLimits): Promise<ScanResult> {
  return new Scanner(r, limits).run();
}

class Scanner {
  private readonly stack: Shadow[] = [];
  private readonly marks: number[] = [];
  private readonly keys: MemoKeys;
  private readonly lastRead = new Map<number, number>();
  /** Memo slots holding a module or name of the allow-list (always kept: they can form a global). */
  private readonly allowedStrings = new Map<number, string>();
  private readonly otherStrings = new Map<number, string>();
  private protocol = -1;
  private highestOpcode = 0;

  constructor(
    private readonly r: ByteReader,
    private readonly limits: PickleLimits,
  ) {
    this.keys = new MemoKeys(limits.maxMemoEntries);
  }

  private push(value: Shadow): void {
    if (this.stack.length + this.marks.length >= this.limits.maxStackDepth) {
      throw pickleError(`grows its stack past ${this.limits.maxStackDepth} entries (limit maxStackDepth) at offset ${this.r.offset}`);
    }
    this.stack.push(value);
  }

  private floor(): number {
    return this.marks[this.marks.length - 1] ?? 0;
  }

  private pop(op: number, at: number): Shadow {
    if (this.stack.length <= this.floor()) throw underflow(op, at);
    return this.stack.pop() ?? OTHER;
  }

  /** The top of the current frame (what APPEND, BUILD, PUT... act on). */
  private top(op: number, at: number): Shadow {
    if (this.stack.length <= this.floor()) throw underflow(op, at);
    return this.stack[this.stack.length - 1] ?? OTHER;
  }

  private popMark(op: number, at: number): number {
    const mark = this.marks.pop();
    if (mark === undefined) throw pickleError(`has ${opName(op)} at offset ${at} without a MARK before it`);
    const count = this.stack.length - mark;
    this.stack.length = mark;
    return count;
  }

  private str(value: string): Shadow {
    return value.length <= SHORT_STR ? value : OTHER;
  }

  async run(): Promise<ScanResult> {
    const r = this.r;
    for (;;) {
      if (r.available < OPCODE_LOOKAHEAD && r.available < r.remaining) await r.fill(OPCODE_LOOKAHEAD);
      const at = r.offset;
      if (r.remaining === 0) throw pickleError(`is truncated: it ends at offset ${at} without a STOP opcode`);
      const op = r.u8();
      if (opProtocol(op) > this.highestOpcode) this.highestOpcode = opProtocol(op);
      switch (op) {
        case OP.STOP: {
          if (this.marks.length > 0 || this.stack.length !== 1) {
            throw pickleError(`ends with ${this.stack.length} object(s) and ${this.marks.length} open MARK(s) on its stack; a pickle ends with exactly one object`);
          }
          const result = this.stack[0];
          return {
            protocol: this.protocol >= 0 ? this.protocol : this.highestOpcode,
            lastRead: this.lastRead,
            topListAt: typeof result === 'object' ? result.listAt : null,
          };
        }
        case OP.PROTO: {
          const version = r.u8();
          if (version > HIGHEST_PROTOCOL) throw pickleError(`uses pickle protocol ${version}; the highest protocol is ${HIGHEST_PROTOCOL}`);
          if (this.protocol < 0) this.protocol = version;
          break;
        }
        case OP.FRAME:
          // Frames only group opcodes for buffered reading; the data inside is ordinary opcodes.
          r.checkLength(r.u64le(), 'FRAME', at);
          break;
        case OP.MARK:
          if (this.stack.length + this.marks.length >= this.limits.maxStackDepth) {
            throw pickleError(`opens more than ${this.limits.maxStackDepth} MARKs and values (limit maxStackDepth) at offset ${at}`);
          }
          this.marks.push(this.stack.length);
          break;
        case OP.POP:
          // Python pops the mark itself when the current frame is empty.
          if (this.stack.length > this.floor()) this.stack.pop();
          else this.popMark(op, at);
          break;
        case OP.POP_MARK:
          this.popMark(op, at);
          break;
        case OP.DUP:
          this.push(this.top(op, at));
          break;

        // Scalars.
        case OP.NONE:
        case OP.NEWTRUE:
        case OP.NEWFALSE:
          this.push(OTHER);
          break;
        case OP.BININT1:
          r.u8();
          this.push(OTHER);
          break;
        case OP.BININT2:
          r.u16le();
          this.push(OTHER);
          break;
        case OP.BININT:
          r.i32le();
          this.push(OTHER);
          break;
        case OP.BINFLOAT: {
          r.f64be();
          this.push(OTHER);
          // The rest of a run of floats (a vector), in one tight loop.
          const n = r.skipFloatRun(this.limits.maxStackDepth - this.stack.length - this.marks.length);
          for (let i = 0; i < n; i++) this.stack.push(OTHER);
          break;
        }
        case OP.LONG1:
        case OP.LONG4:
          r.skip(longLength(r, op, at));
          this.push(OTHER);
          break;
        case OP.INT:
        case OP.LONG:
        case OP.FLOAT:
          // Parsed (and so validated) by the second pass.
          await r.line(MAX_NUMBER_LINE, opName(op));
          this.push(OTHER);
          break;

        // Strings and bytes: short strings are read (they may name a global), the rest skipped.
        case OP.SHORT_BINUNICODE:
        case OP.BINUNICODE:
        case OP.BINUNICODE8: {
          const n = dataLength(r, op, at);
          if (n <= SHORT_STR * 4) {
            const dataAt = r.offset;
            this.push(this.str(decodeUtf8(await r.bytes(n), at, dataAt)));
          } else {
            r.skip(n);
            this.push(OTHER);
          }
          break;
        }
        case OP.SHORT_BINSTRING:
        case OP.BINSTRING: {
          const n = dataLength(r, op, at);
          if (n <= SHORT_STR) this.push(latin1String(await r.bytes(n)));
          else {
            r.skip(n);
            this.push(OTHER);
          }
          break;
        }
        case OP.SHORT_BINBYTES:
        case OP.BINBYTES:
        case OP.BINBYTES8:
        case OP.BYTEARRAY8:
          r.skip(dataLength(r, op, at));
          this.push(OTHER);
          break;
        case OP.STRING:
          this.push(this.str(parseStringLine(await r.line(this.limits.maxInlineBytes, 'STRING'), at)));
          break;
        case OP.UNICODE:
          this.push(this.str(parseUnicodeLine(await r.line(this.limits.maxInlineBytes, 'UNICODE'), at)));
          break;

        // Containers: only their stack effects matter here.
        case OP.EMPTY_LIST:
          this.push({ listAt: at });
          break;
        case OP.LIST:
          this.popMark(op, at);
          this.push({ listAt: at });
          break;
        case OP.EMPTY_TUPLE:
        case OP.EMPTY_DICT:
          this.push(OTHER);
          break;
        case OP.TUPLE:
          this.popMark(op, at);
          this.push(OTHER);
          break;
        case OP.DICT:
          if (this.popMark(op, at) % 2 !== 0) throw oddPairs(op, at);
          this.push(OTHER);
          break;
        case OP.TUPLE1:
        case OP.TUPLE2:
        case OP.TUPLE3:
          for (let i = op - OP.TUPLE1; i >= 0; i--) this.pop(op, at);
          this.push(OTHER);
          break;
        case OP.APPEND:
        case OP.BUILD:
          this.pop(op, at);
          this.top(op, at);
          break;
        case OP.APPENDS:
          this.popMark(op, at);
          this.top(op, at);
          break;
        case OP.SETITEM:
          this.pop(op, at);
          this.pop(op, at);
          this.top(op, at);
          break;
        case OP.SETITEMS:
          if (this.popMark(op, at) % 2 !== 0) throw oddPairs(op, at);
          this.top(op, at);
          break;
        case OP.REDUCE:
          this.pop(op, at);
          this.top(op, at);
          this.stack[this.stack.length - 1] = OTHER;
          break;

        // The memo.
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
          if (!this.keys.has(key)) throw pickleError(`reads memo slot ${key} at offset ${at} before anything was stored there`);
          if (!this.lastRead.has(key) && this.lastRead.size >= this.limits.maxMemoEntries) {
            throw pickleError(`reads back more than ${this.limits.maxMemoEntries} distinct memo slots (limit maxMemoEntries)`);
          }
          this.lastRead.set(key, at);
          this.push(this.allowedStrings.get(key) ?? this.otherStrings.get(key) ?? OTHER);
          break;
        }

        // Globals: the allow-list is enforced here, before anything else happens.
        case OP.GLOBAL: {
          const [module, name] = await globalArguments(r, op, at);
          resolveGlobal(module, name);
          this.push(OTHER);
          break;
        }
        case OP.STACK_GLOBAL: {
          const name = this.pop(op, at);
          const module = this.pop(op, at);
          if (typeof module !== 'string' || typeof name !== 'string') {
            throw unsafeFeature(`STACK_GLOBAL at offset ${at} with a module or name that is not a short str (no allowed global is spelled that way)`);
          }
          resolveGlobal(module, name);
          this.push(OTHER);
          break;
        }
        case OP.INST: {
          const [module, name] = await globalArguments(r, op, at);
          resolveGlobal(module, name); // unsafe names are refused as such ...
          throw refuseOpcode(op, at); // ... and allowed ones are still never instantiated this way
        }
        case OP.EXT1:
          throw refuseOpcode(op, at, r.u8());
        case OP.EXT2:
          throw refuseOpcode(op, at, r.u16le());
        case OP.EXT4:
          throw refuseOpcode(op, at, r.i32le());
        default:
          throw refuseOpcode(op, at);
      }
    }
  }

  private memoize(key: number, op: number, at: number): void {
    const value = this.top(op, at);
    this.keys.add(key);
    this.allowedStrings.delete(key);
    this.otherStrings.delete(key);
    if (typeof value !== 'string') return;
    if (ALLOWED_PARTS.has(value)) {
      if (this.allowedStrings.size >= this.limits.maxMemoEntries) {
        throw pickleError(`memoizes more than ${this.limits.maxMemoEntries} module names (limit maxMemoEntries)`);
      }
      this.allowedStrings.set(key, value);
    } else {
      if (this.otherStrings.size >= NAME_CACHE) {
        const oldest = this.otherStrings.keys().next();
        if (oldest.done !== true) this.otherStrings.delete(oldest.value);
      }
      this.otherStrings.set(key, value);
    }
  }
}

function underflow(op: number, at: number): Error {
  return pickleError(`has ${opName(op)} at offset ${at} with too few objects on the stack (corrupt file?)`);
}

function oddPairs(op: number, at: number): Error {
  return pickleError(`has ${opName(op)} at offset ${at} with an odd number of keys and values`);
}
