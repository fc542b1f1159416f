import type { FileHandle } from 'node:fs/promises';
import { pickleError } from './fail.js';

const BINFLOAT = 0x47;

/** Enough for any opcode with a fixed-size argument (1 + 8 bytes), with room to spare. */
export const OPCODE_LOOKAHEAD = 16;

/**
 * A chunked, forward-only byte source over a file handle. The decoder's hot loop reads opcodes
 * synchronously from the buffer and awaits only when it runs low (`fill`), so a file of any size is
 * read in fixed-size chunks without one promise per opcode. Large arguments are either read straight
 * into their own buffer (`bytes`) or stepped over by moving the file position (`skip`).
 */
export class ByteReader {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  /** File offset of buf[0]. */
  private bufStart = 0;
  /** Unread data is buf[lo, hi). */
  private lo = 0;
  private hi = 0;

  constructor(
    private readonly file: FileHandle,
    /** Size of the file when it was opened; reads never go past it. */
    readonly size: number,
    chunkBytes = 1 << 20,
  ) {
    this.buf = new Uint8Array(Math.max(chunkBytes, OPCODE_LOOKAHEAD));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** File offset of the next unread byte. */
  get offset(): number {
    return this.bufStart + this.lo;
  }

  get available(): number {
    return this.hi - this.lo;
  }

  get remaining(): number {
    return this.size - this.offset;
  }

  /** Makes min(n, remaining) bytes available; n must not exceed the buffer's size. */
  async fill(n: number): Promise<void> {
    const want = Math.min(n, this.remaining);
    if (this.hi - this.lo >= want) return;
    if (this.lo > 0) {
      this.buf.copyWithin(0, this.lo, this.hi);
      this.bufStart += this.lo;
      this.hi -= this.lo;
      this.lo = 0;
    }
    while (this.hi < want) {
      const room = Math.min(this.buf.length - this.hi, this.size - (this.bufStart + this.hi));
      const { bytesRead } = await this.file.read(this.buf, this.hi, room, this.bufStart + this.hi);
      if (bytesRead === 0) throw pickleError(`became shorter while it was being read (expected ${this.size} bytes)`);
      this.hi += bytesRead;
    }
  }

  private need(n: number): void {
    if (this.hi - this.lo < n) throw this.truncated(n);
  }

  private needInFile(n: number): void {
    if (n > this.remaining) throw this.truncated(n);
  }

  private truncated(n: number): Error {
    return pickleError(`is truncated: offset ${this.offset} needs ${n} more byte(s) but the file ends after ${this.remaining}`);
  }

  // Fixed-size reads: the caller has called fill(OPCODE_LOOKAHEAD) first, so running short here
  // means the file really ends.

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.lo++);
  }

  u16le(): number {
    this.need(2);
    const v = this.view.getUint16(this.lo, true);
    this.lo += 2;
    return v;
  }

  i32le(): number {
    this.need(4);
    const v = this.view.getInt32(this.lo, true);
    this.lo += 4;
    return v;
  }

  u32le(): number {
    this.need(4);
    const v = this.view.getUint32(this.lo, true);
    this.lo += 4;
    return v;
  }

  /** A uint64 length; past 2^53 it is approximate, and larger than any file anyway. */
  u64le(): number {
    this.need(8);
    const low = this.view.getUint32(this.lo, true);
    const high = this.view.getUint32(this.lo + 4, true);
    this.lo += 8;
    return high * 0x1_0000_0000 + low;
  }

  f64be(): number {
    this.need(8);
    const v = this.view.getFloat64(this.lo, false);
    this.lo += 8;
    return v;
  }

  /**
   * Reads consecutive BINFLOAT opcodes ('G' + float64 BE) that are already buffered, up to `max`,
   * into `into` from index `start`; returns how many. A list of floats is a long run of them,
   * and this loop is most of the work of decoding one.
   */
  floatRun(into: Float64Array, start: number, max: number): number {
    let count = 0;
    let lo = this.lo;
    const hi = this.hi;
    while (count < max && hi - lo >= 9 && this.view.getUint8(lo) === BINFLOAT) {
      into[start + count++] = this.view.getFloat64(lo + 1, false);
      lo += 9;
    }
    this.lo = lo;
    return count;
  }

  /** Steps over consecutive buffered BINFLOAT opcodes, up to `max`; returns how many. */
  skipFloatRun(max: number): number {
    let count = 0;
    let lo = this.lo;
    const hi = this.hi;
    while (count < max && hi - lo >= 9 && this.view.getUint8(lo) === BINFLOAT) {
      count++;
      lo += 9;
    }
    this.lo = lo;
    return count;
  }

  /** Fails unless `n` more bytes exist, naming the opcode whose declared length is too long. */
  checkLength(n: number, what: string, at: number): void {
    if (n > this.remaining) {
      throw pickleError(`is truncated or corrupt: ${what} at offset ${at} declares ${n} bytes but only ${this.remaining} remain in the file`);
    }
  }

  /** Reads `n` bytes into a new buffer (the caller bounds n). */
  async bytes(n: number): Promise<Uint8Array> {
    this.needInFile(n);
    const out = new Uint8Array(n);
    const fromBuffer = Math.min(n, this.hi - this.lo);
    out.set(this.buf.subarray(this.lo, this.lo + fromBuffer));
    this.lo += fromBuffer;
    if (fromBuffer < n) {
      const position = this.offset;
      await this.readAt(position, out.subarray(fromBuffer));
      this.bufStart = position + (n - fromBuffer);
      this.lo = 0;
      this.hi = 0;
    }
    return out;
  }

  /** Steps over `n` bytes without reading them (the caller has checked them with checkLength). */
  skip(n: number): void {
    this.needInFile(n);
    if (n <= this.hi - this.lo) {
      this.lo += n;
      return;
    }
    this.bufStart = this.offset + n;
    this.lo = 0;
    this.hi = 0;
  }

  /** The bytes up to the next newline (which is consumed, not returned). */
  async line(maxLength: number, what: string): Promise<Uint8Array> {
    const start = this.offset;
    const pieces: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const window = this.buf.subarray(this.lo, this.hi);
      const nl = window.indexOf(0x0a);
      if (nl >= 0) {
        pieces.push(window.slice(0, nl));
        this.lo += nl + 1;
        total += nl;
        break;
      }
      pieces.push(window.slice());
      total += window.length;
      this.lo = this.hi;
      if (total > maxLength) throw pickleError(`has a ${what} line at offset ${start} longer than ${maxLength} bytes`);
      if (this.remaining === 0) throw pickleError(`is truncated: the ${what} line at offset ${start} has no end`);
      await this.fill(this.buf.length);
    }
    if (total > maxLength) throw pickleError(`has a ${what} line at offset ${start} longer than ${maxLength} bytes`);
    if (pieces.length === 1 && pieces[0] !== undefined) return pieces[0];
    const out = new Uint8Array(total);
    let at = 0;
    for (const piece of pieces) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }

  /** Positional read of exactly `into.length` bytes, independent of the buffer. */
  async readAt(position: number, into: Uint8Array): Promise<void> {
    let done = 0;
    while (done < into.length) {
      const { bytesRead } = await this.file.read(into, done, into.length - done, position + done);
      if (bytesRead === 0) throw pickleError(`became shorter while it was being read (expected ${this.size} bytes)`);
      done += bytesRead;
    }
  }
}
