/**
 * Where UTF-8 goes wrong, located the way Python's decoder reports it: `UnicodeDecodeError.start`
 * is the first byte of the sequence that fails (an invalid start byte, the lead byte of a sequence
 * whose continuation is wrong, or the lead byte of a character cut off by the end of the data).
 * TextDecoder's fatal mode only says that something is wrong, not where.
 */

export interface Utf8Error {
  /** Index of the first byte of the failing sequence. */
  at: number;
  /** The data ends inside a character that started well. */
  truncated: boolean;
}

/**
 * The first well-formedness error in `bytes` (Unicode Table 3-7: no overlongs, no surrogates,
 * nothing past U+10FFFF), or null. With `final` false, a character cut off at the end is not an
 * error (more bytes may follow).
 */
export function findUtf8Error(bytes: Uint8Array, final: boolean): Utf8Error | null {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return { at: i, truncated: false };
    for (let k = 1; k <= need; k++) {
      if (i + k >= n) return final ? { at: i, truncated: true } : null;
      const c = bytes[i + k] as number;
      if (c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return { at: i, truncated: false };
    }
    i += need + 1;
  }
  return null;
}

/**
 * How many of the last bytes of well-formed UTF-8 data belong to a character not finished yet
 * (0 to 3): what a streaming decoder holds back for the next chunk.
 */
export function incompleteTail(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back] as number;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: the lead is further back
    const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

/** Python's wording for the byte at `error.at`, for messages. */
export function describeUtf8Error(bytes: Uint8Array, error: Utf8Error): string {
  const byte = `0x${(bytes[error.at] ?? 0).toString(16).padStart(2, '0')}`;
  return error.truncated ? `byte ${byte} starts a character that the data ends in the middle of` : `byte ${byte} ${isLead(bytes[error.at] ?? 0) ? 'starts a sequence with an invalid continuation byte' : 'is an invalid start byte'}`;
}

function isLead(b: number): boolean {
  return b >= 0xc2 && b <= 0xf4;
}
