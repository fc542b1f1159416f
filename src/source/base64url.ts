/**
 * Python's `base64.urlsafe_b64decode`, byte for byte.
 *
 * Both places where the source application decoded base64 went through it: the master key
 * (`urlsafe_b64decode(master_key)`, falling back to the raw string when it raises) and every
 * Fernet token (`Fernet._get_unverified_token_data`). To derive the same keys and accept exactly
 * the tokens Python accepted, we reproduce its decoder rather than Node's, which differs in what
 * it drops, where it stops and when it fails.
 *
 * `urlsafe_b64decode(s)` is `binascii.a2b_base64(s.translate(-_ -> +/), strict_mode=False)`
 * (CPython 3.11+ Modules/binascii.c; 3.7-3.10 behave the same on every input we could find).
 * That decoder is a single-pass state machine:
 *   - a `str` argument must be ASCII, else ValueError (bytes are taken as they are);
 *   - every byte outside A-Z a-z 0-9 + / (after the translation, so `-` `_` `+` `/` all count)
 *     and other than `=` is dropped;
 *   - `=` is ignored until at least two characters of the current quantum have been seen; then
 *     it counts as padding, and once the quantum is complete (2 data chars + 2 pads, or 3 + 1)
 *     decoding stops and the rest of the input is ignored (`YWJjZA==extra` -> `abcd`);
 *     a data character between two `=` resets the pad count (`ab=c=` -> 2 bytes);
 *   - at the end of input, a quantum holding one data character is "Invalid base64-encoded
 *     string" and one holding two or three is "Incorrect padding".
 * Because it is a state machine, the same class also decodes a stream chunk by chunk, with no
 * need to align chunks on 4 characters: `fernet.ts` uses it to decode files of any size.
 */

export type Base64ErrorKind = 'non-ascii' | 'incorrect-padding' | 'invalid-length';

/** What `binascii.Error` (or the ValueError for a non-ASCII `str`) is in Python. */
export class Base64DecodeError extends Error {
  readonly kind: Base64ErrorKind;

  constructor(kind: Base64ErrorKind, message: string) {
    super(message);
    this.name = 'Base64DecodeError';
    this.kind = kind;
  }
}

const PAD = 0x3d; // '='
const INVALID = 0xff;

/** Value of each byte after Python's urlsafe translation; INVALID for bytes that are dropped. */
const TABLE: Uint8Array = (() => {
  const table = new Uint8Array(256).fill(INVALID);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  // urlsafe_b64decode translates '-' -> '+' and '_' -> '/' first; '+' and '/' stay valid.
  table[0x2d] = 62;
  table[0x5f] = 63;
  return table;
})();

/**
 * Incremental form of Python's decoder. Feed bytes with `update`, then call `final`, which throws
 * the error Python would have raised at the end of the same input.
 */
export class PythonBase64Decoder {
  private quadPos = 0;
  private leftChar = 0;
  private pads = 0;
  private stopped = false;
  private dataChars = 0;

  /** True once a complete padded quantum was seen: Python ignores everything after it. */
  get done(): boolean {
    return this.stopped;
  }

  /** The most bytes `update` can return for `inputLength` input bytes. */
  static maxOutput(inputLength: number): number {
    // At most 3 bytes per 4 input characters, plus the pending partial quantum.
    return Math.floor((inputLength * 3) / 4) + 3;
  }

  /**
   * Decodes `chunk`. The result is a view of `into` when that is given and large enough
   * (maxOutput), so a caller decoding a big file chunk by chunk can reuse one buffer; it is then
   * overwritten by the next call.
   */
  update(chunk: Uint8Array, into?: Buffer): Buffer {
    if (this.stopped) return Buffer.alloc(0);
    const needed = PythonBase64Decoder.maxOutput(chunk.length);
    const out = into !== undefined && into.length >= needed ? into : Buffer.allocUnsafe(needed);
    let o = 0;
    let quadPos = this.quadPos;
    let leftChar = this.leftChar;
    let pads = this.pads;
    let dataChars = 0;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      // Fast path for the common case, four data characters at a quantum boundary: one
      // iteration per quantum instead of four (this loop dominates decrypting big files).
      if (quadPos === 0 && i + 3 < n) {
        const a = TABLE[chunk[i] as number] as number;
        const b = TABLE[chunk[i + 1] as number] as number;
        const c2 = TABLE[chunk[i + 2] as number] as number;
        const d = TABLE[chunk[i + 3] as number] as number;
        if ((a | b | c2 | d) < 64) {
          out[o++] = (a << 2) | (b >> 4);
          out[o++] = ((b & 0x0f) << 4) | (c2 >> 2);
          out[o++] = ((c2 & 0x03) << 6) | d;
          pads = 0;
          dataChars += 4;
          i += 3;
          continue;
        }
      }
      const c = chunk[i] as number;
      if (c === PAD) {
        // Python: `if (quad_pos >= 2 && quad_pos + ++pads >= 4)`; pads only counts from quad_pos 2.
        if (quadPos >= 2) {
          pads++;
          if (quadPos + pads >= 4) {
            this.stopped = true;
            break;
          }
        }
        continue;
      }
      const v = TABLE[c] as number;
      if (v === INVALID) continue;
      pads = 0;
      dataChars++;
      switch (quadPos) {
        case 0:
          quadPos = 1;
          leftChar = v;
          break;
        case 1:
          quadPos = 2;
          out[o++] = ((leftChar << 2) | (v >> 4)) & 0xff;
          leftChar = v & 0x0f;
          break;
        case 2:
          quadPos = 3;
          out[o++] = ((leftChar << 4) | (v >> 2)) & 0xff;
          leftChar = v & 0x03;
          break;
        default:
          quadPos = 0;
          out[o++] = ((leftChar << 6) | v) & 0xff;
          leftChar = 0;
          break;
      }
    }
    this.quadPos = quadPos;
    this.leftChar = leftChar;
    this.pads = pads;
    this.dataChars += dataChars;
    return out.subarray(0, o);
  }

  /** Throws where Python raises `binascii.Error` at the end of input. Returns nothing: no bytes are pending. */
  final(): void {
    if (this.stopped || this.quadPos === 0) return;
    if (this.quadPos === 1) {
      throw new Base64DecodeError(
        'invalid-length',
        `invalid base64: number of data characters (${this.dataChars}) cannot be 1 more than a multiple of 4`,
      );
    }
    throw new Base64DecodeError('incorrect-padding', 'invalid base64: incorrect padding');
  }
}

/** True when every UTF-16 unit is ASCII, which is what Python requires of a `str` argument. */
function isAscii(s: string): boolean {
  return !/[^\x00-\x7f]/.test(s);
}

/**
 * `base64.urlsafe_b64decode(s)`: a string must be ASCII (Python raises ValueError otherwise);
 * bytes are taken as they are. Throws Base64DecodeError where Python raises.
 */
export function pythonUrlsafeB64decode(s: string | Uint8Array): Buffer {
  let bytes: Uint8Array;
  if (typeof s === 'string') {
    if (!isAscii(s)) {
      throw new Base64DecodeError('non-ascii', 'invalid base64: string argument should contain only ASCII characters');
    }
    bytes = Buffer.from(s, 'latin1');
  } else {
    bytes = s;
  }
  const decoder = new PythonBase64Decoder();
  const out = decoder.update(bytes);
  decoder.final();
  return out;
}
