import { pickleError } from './fail.js';
import { memoKey } from './memo.js';
import { OP, opName } from './opcodes.js';
import type { ByteReader } from './reader.js';
import { decodeUtf8, parseIntLine } from './text.js';

/** INT / LONG / FLOAT text lines (protocol 0) longer than this are refused: no vector needs them, and
 * parsing a huge decimal would be slow. */
export const MAX_NUMBER_LINE = 1024;

/**
 * The length prefix of a str/bytes opcode, checked against what is left of the file, so a
 * declared length never turns into an allocation or a read past the end.
 */
export function dataLength(r: ByteReader, op: number, at: number): number {
  let n: number;
  switch (op) {
    case OP.SHORT_BINUNICODE:
    case OP.SHORT_BINSTRING:
    case OP.SHORT_BINBYTES:
      n = r.u8();
      break;
    case OP.BINUNICODE:
    case OP.BINBYTES:
      n = r.u32le();
      break;
    case OP.BINSTRING:
      n = r.i32le();
      if (n < 0) throw pickleError(`declares a negative length (${n}) for BINSTRING at offset ${at}`);
      break;
    default: // BINUNICODE8, BINBYTES8, BYTEARRAY8
      n = r.u64le();
  }
  r.checkLength(n, opName(op), at);
  return n;
}

/** The slot a PUT/GET opcode names (MEMOIZE has none: it uses len(memo)). */
export async function memoArgument(r: ByteReader, op: number, at: number): Promise<number> {
  switch (op) {
    case OP.BINGET:
    case OP.BINPUT:
      return r.u8();
    case OP.LONG_BINGET:
    case OP.LONG_BINPUT:
      return r.u32le();
    default: {
      // GET / PUT: a decimal line
      const value = parseIntLine(await r.line(64, opName(op)), at);
      if (typeof value === 'boolean') throw pickleError(`has a malformed ${opName(op)} line at offset ${at}`);
      return memoKey(value, at);
    }
  }
}

/** GLOBAL / INST: "module\nname\n", UTF-8 as Python reads them. */
export async function globalArguments(r: ByteReader, op: number, at: number): Promise<[string, string]> {
  const moduleAt = r.offset;
  const module = decodeUtf8(await r.line(1024, opName(op)), at, moduleAt);
  const nameAt = r.offset;
  const name = decodeUtf8(await r.line(1024, opName(op)), at, nameAt);
  return [module, name];
}

/** LONG1 / LONG4 byte count; Python ints in a vector pickle are tiny, so large ones are refused. */
export function longLength(r: ByteReader, op: number, at: number): number {
  const n = op === OP.LONG1 ? r.u8() : r.i32le();
  if (n < 0) throw pickleError(`declares a negative length (${n}) for LONG4 at offset ${at}`);
  if (n > 1024) throw pickleError(`holds an integer of ${n} bytes at offset ${at}; a vector pickle has no such numbers`);
  r.checkLength(n, opName(op), at);
  return n;
}
