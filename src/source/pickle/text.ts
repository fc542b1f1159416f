import { describeUtf8Error, findUtf8Error } from '../utf8.js';
import { pickleError } from './fail.js';

/**
 * Decoding of the argument encodings pickle uses: UTF-8 str, latin-1 (Python 2 str and
 * protocol 2's `_codecs.encode(str, 'latin1')` trick for bytes), and the protocol 0 text lines.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `at`: the opcode's offset; `dataAt`: the file offset of the str's first byte, so the message
 * names the failing byte itself (Python's UnicodeDecodeError counts from the start of the str).
 */
export function decodeUtf8(bytes: Uint8Array, at: number, dataAt: number): string {
  try {
    return utf8.decode(bytes);
  } catch {
    const found = findUtf8Error(bytes, true);
    const where = found === null ? '' : `: ${describeUtf8Error(bytes, found)}, at file offset ${dataAt + found.at} (byte ${found.at} of the str)`;
    throw pickleError(`holds a str at offset ${at} that is not valid UTF-8${where}`);
  }
}

/** Each byte as the code point of the same value (what Python's latin-1 decoding does). */
export function latin1String(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return out;
}

/** `s.encode('latin1')`: fails for a character above U+00FF, as Python does. */
export function latin1Bytes(s: string, what: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw pickleError(`holds ${what} with the character U+${c.toString(16).padStart(4, '0')}, which latin-1 cannot encode`);
    out[i] = c;
  }
  return out;
}

/**
 * Incremental `utf8_bytes.decode('utf-8').encode('latin1')`, the inverse of how protocol 2 writes
 * bytes (as a str of U+0000..U+00FF): each char is one byte (< 0x80) or C2/C3 plus one
 * continuation byte. A lead byte may end one chunk and its continuation start the next.
 */
export class Latin1FromUtf8 {
  private lead = -1;

  /** Decodes `chunk` into a new buffer, or returns null if it is not latin-1 text in UTF-8. */
  push(chunk: Uint8Array): Uint8Array | null {
    const out = new Uint8Array(chunk.length + 1);
    let n = 0;
    let lead = this.lead;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] ?? 0;
      if (lead >= 0) {
        if ((b & 0xc0) !== 0x80) return null;
        out[n++] = ((lead & 0x03) << 6) | (b & 0x3f);
        lead = -1;
      } else if (b < 0x80) {
        out[n++] = b;
      } else if (b === 0xc2 || b === 0xc3) {
        lead = b;
      } else {
        return null;
      }
    }
    this.lead = lead;
    return out.subarray(0, n);
  }

  /** False if the text ended in the middle of a character. */
  end(): boolean {
    return this.lead < 0;
  }
}

/** The latin-1 bytes of a UTF-8 str, or null when some char is above U+00FF. */
export function latin1FromUtf8(bytes: Uint8Array): Uint8Array | null {
  const decoder = new Latin1FromUtf8();
  const out = decoder.push(bytes);
  return out !== null && decoder.end() ? out : null;
}

/** Two's-complement little-endian (LONG1 / LONG4). */
export function longFromBytes(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let hex = '';
  for (let i = bytes.length - 1; i >= 0; i--) hex += (bytes[i] ?? 0).toString(16).padStart(2, '0');
  let value = BigInt(`0x${hex}`);
  if (((bytes[bytes.length - 1] ?? 0) & 0x80) !== 0) value -= 1n << BigInt(8 * bytes.length);
  return intValue(value);
}

/** Python ints become JS numbers when exact, bigint otherwise. */
export function intValue(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function asciiLine(bytes: Uint8Array, what: string, at: number): string {
  for (const b of bytes) if (b > 0x7e || (b < 0x20 && b !== 0x09)) throw pickleError(`has a malformed ${what} line at offset ${at}`);
  return latin1String(bytes);
}

/** INT: a decimal, or `00` / `01` for False / True (protocol 0 bools). */
export function parseIntLine(bytes: Uint8Array, at: number): number | bigint | boolean {
  const text = asciiLine(bytes, 'INT', at);
  if (text === '00') return false;
  if (text === '01') return true;
  if (!/^[+-]?\d+$/.test(text.trim())) throw pickleError(`has a malformed INT line at offset ${at}`);
  return intValue(BigInt(text.trim()));
}

/** LONG: a decimal with an optional trailing L (Python 2). */
export function parseLongLine(bytes: Uint8Array, at: number): number | bigint {
  const text = asciiLine(bytes, 'LONG', at).trim().replace(/L$/, '');
  if (!/^[+-]?\d+$/.test(text)) throw pickleError(`has a malformed LONG line at offset ${at}`);
  return intValue(BigInt(text));
}

/** FLOAT: what Python's float() accepts from repr(): decimals, exponents, inf, nan. */
export function parseFloatLine(bytes: Uint8Array, at: number): number {
  const text = asciiLine(bytes, 'FLOAT', at).trim();
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return Number(text);
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (special === null) throw pickleError(`has a malformed FLOAT line at offset ${at}`);
  if (special[2]?.toLowerCase() === 'nan') return Number.NaN;
  return special[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
}

const SIMPLE_ESCAPES: Record<string, number> = { '\\': 0x5c, "'": 0x27, '"': 0x22, a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11 };

/** STRING: a quoted Python 2 str literal, unescaped like codecs.escape_decode, as latin-1. */
export function parseStringLine(bytes: Uint8Array, at: number): string {
  const text = latin1String(bytes);
  const quote = text[0];
  if (text.length < 2 || (quote !== "'" && quote !== '"') || text[text.length - 1] !== quote) {
    throw pickleError(`has a STRING at offset ${at} that is not quoted`);
  }
  const body = text.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] ?? '';
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = body[++i];
    if (next === undefined) throw pickleError(`has a STRING at offset ${at} ending in a lone backslash`);
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      out += String.fromCharCode(simple);
    } else if (next === '\n') {
      // line continuation: nothing
    } else if (next === 'x') {
      const hex = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw pickleError(`has a STRING at offset ${at} with a bad \\x escape`);
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
    } else if (next >= '0' && next <= '7') {
      const oct = /^[0-7]{1,3}/.exec(body.slice(i))?.[0] ?? next;
      out += String.fromCharCode(parseInt(oct, 8) & 0xff);
      i += oct.length - 1;
    } else {
      out += `\\${next}`;
    }
  }
  return out;
}

/** UNICODE: raw-unicode-escape; bytes are latin-1 except \uXXXX and \UXXXXXXXX escapes. */
export function parseUnicodeLine(bytes: Uint8Array, at: number): string {
  const text = latin1String(bytes);
  return text.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/g, (_m, hex: string) => {
    const code = parseInt(hex.slice(1), 16);
    if (code > 0x10ffff) throw pickleError(`has a UNICODE line at offset ${at} with an escape beyond U+10FFFF`);
    return String.fromCodePoint(code);
  });
}
