import type { MigrateError } from '../../errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Longest GLOBAL/INST line read: module and class names are short, a missing newline is not. */
const MAX_LINE = 1024;

/**
 * A pickle held whole in memory, read forward (the data pickles are small enough to read at once;
 * vectors.pkl is streamed by reader.ts instead). Every read checks what is left, so a truncated
 * file or a length past its end fails with `fail`, never reads out of bounds.
 */
export class MemoryInput {
  pos = 0;
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    private readonly fail: (message: string) => MigrateError,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  need(n: number, what: string, at: number): void {
    if (n > this.bytes.length - this.pos) {
      throw this.fail(`is truncated: ${what} at offset ${at} needs ${n} byte(s) but only ${this.bytes.length - this.pos} remain`);
    }
  }

  u8(at: number, what: string): number {
    this.need(1, what, at);
    return this.view.getUint8(this.pos++);
  }

  u16(at: number, what: string): number {
    this.need(2, what, at);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(at: number, what: string): number {
    this.need(4, what, at);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  i32(at: number, what: string): number {
    this.need(4, what, at);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** A uint64 length; values past 2^53 are larger than any file, and fail `need` anyway. */
  u64(at: number, what: string): number {
    this.need(8, what, at);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }

  f64be(at: number, what: string): number {
    this.need(8, what, at);
    const v = this.view.getFloat64(this.pos, false);
    this.pos += 8;
    return v;
  }

  take(n: number, at: number, what: string): Uint8Array {
    this.need(n, what, at);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** `n` bytes of UTF-8 text (the str opcodes). */
  text(n: number, at: number, what: string): string {
    const raw = this.take(n, at, what);
    try {
      return utf8.decode(raw);
    } catch {
      throw this.fail(`holds a str at offset ${at} that is not valid UTF-8`);
    }
  }

  /** A newline-terminated argument (GLOBAL, INST). */
  line(at: number, what: string): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > MAX_LINE) throw this.fail(`has a ${what} line at offset ${at} without an end`);
    const raw = this.bytes.subarray(this.pos, end);
    this.pos = end + 1;
    try {
      return utf8.decode(raw);
    } catch {
      throw this.fail(`has a ${what} line at offset ${at} that is not valid UTF-8`);
    }
  }
}
