/**
 * Fernet decryption (https://github.com/fernet/spec), as Python's `cryptography.fernet` does it.
 *
 * token = base64url( 0x80 | timestamp (8, big-endian) | iv (16) | ciphertext (n*16) | hmac (32) )
 * hmac  = HMAC-SHA256(signingKey, everything before it); ciphertext = AES-128-CBC + PKCS7.
 *
 * Two entry points:
 *   - `fernetDecrypt` for a token held in memory (the spec vectors, small files);
 *   - `openFernetFile` for metadata.json files of any size, in two streaming passes so memory
 *     stays bounded: pass 1 decodes and MACs the whole file and compares the tag; only then does
 *     pass 2 decode again and stream the plaintext out of the decipher. Pass 2 MACs once more and
 *     fails at the end if the file changed in between, so a consumer never ends a stream cleanly
 *     on bytes that were not authenticated.
 *
 * What Python accepts is reproduced exactly: the base64 layer is Python's lenient decoder
 * (base64url.ts), so whitespace, newlines or junk inside a token are dropped as Python drops them.
 * The order of checks differs from Python only in which failure is reported when several apply
 * (we check lengths before the MAC so a truncated file says so); the set of accepted tokens and
 * the plaintext are the same.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual, type Hmac } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { MigrateError } from '../errors.js';
import { Base64DecodeError, PythonBase64Decoder } from './base64url.js';
import type { FernetKey } from './keys.js';

const VERSION = 0x80;
const HEADER_LEN = 1 + 8 + 16; // version, timestamp, iv
const MAC_LEN = 32;
const BLOCK = 16;
const MIN_LEN = HEADER_LEN + BLOCK + MAC_LEN; // one block of ciphertext at least (PKCS7 always pads)
/** cryptography's _MAX_CLOCK_SKEW. */
const MAX_CLOCK_SKEW_SEC = 60n;
const READ_CHUNK = 64 << 10;

export interface FernetDecryptOptions {
  /**
   * Reject tokens older than `ttlSec` (and tokens dated more than 60 s in the future), exactly as
   * `Fernet.decrypt_at_time(token, ttl, now)`. The product never sets this: the application wrote
   * tokens without a TTL, and an old store must still migrate.
   */
  ttlSec?: number;
  /** Current time in Unix seconds for the TTL check; defaults to the clock. */
  now?: number;
  /** How to name the token in error messages, e.g. "metadata.json of erin/personal_assistant". */
  label?: string;
}

function decryptError(message: string, cause?: unknown): MigrateError {
  return new MigrateError('E_DECRYPT', message, cause === undefined ? undefined : { cause });
}

function base64Failure(label: string, error: Base64DecodeError): MigrateError {
  const what =
    error.kind === 'non-ascii'
      ? 'contains non-ASCII characters'
      : error.kind === 'incorrect-padding'
        ? 'ends in the middle of a base64 quantum (incorrect padding)'
        : 'has an impossible number of base64 characters';
  return decryptError(`${label} is not a valid Fernet token: it ${what}; the file is probably truncated or corrupted`, error);
}

function checkStructure(label: string, total: number, firstByte: number | undefined): void {
  if (total === 0) {
    throw decryptError(`${label} is not a valid Fernet token: it decodes to no bytes at all`);
  }
  if (firstByte !== VERSION) {
    throw decryptError(
      `${label} is not a valid Fernet token: version byte is 0x${(firstByte ?? 0).toString(16).padStart(2, '0')}, expected 0x80`,
    );
  }
  if (total < MIN_LEN) {
    throw decryptError(
      `${label} is not a valid Fernet token: too short (${total} bytes decoded, at least ${MIN_LEN} needed); the file is truncated or corrupted (not a key problem)`,
    );
  }
  if ((total - HEADER_LEN - MAC_LEN) % BLOCK !== 0) {
    throw decryptError(
      `${label} is not a valid Fernet token: its ciphertext is not a whole number of 16-byte blocks (${total} bytes decoded); the file is truncated or corrupted (not a key problem)`,
    );
  }
}

function signatureFailure(label: string, key: FernetKey): MigrateError {
  const hint =
    key.origin.kind === 'default-key'
      ? 'the store was probably encrypted with a master key (configure the one the application used), the user id is wrong, or the file is corrupted/truncated'
      : key.origin.kind === 'master-key'
        ? 'wrong master key, wrong user id, or a corrupted/truncated file'
        : 'wrong key, or a corrupted/truncated file';
  return decryptError(`${label} is a Fernet token that does not verify under ${key.describe()}: ${hint}`);
}

function paddingFailure(label: string, key: FernetKey, cause: unknown): MigrateError {
  return decryptError(
    `${label} is a Fernet token whose signature verifies under ${key.describe()} but whose plaintext padding is invalid: ` +
      'the token was produced by something other than Fernet with this key; it cannot be decrypted safely',
    cause,
  );
}

function checkTime(label: string, timestamp: bigint, opts: FernetDecryptOptions): void {
  if (opts.ttlSec === undefined) return;
  const now = BigInt(Math.floor(opts.now ?? Date.now() / 1000));
  const ttl = BigInt(Math.floor(opts.ttlSec));
  if (timestamp + ttl < now) {
    throw decryptError(`${label} is a Fernet token older than its allowed ${opts.ttlSec} s (expired)`);
  }
  if (now + MAX_CLOCK_SKEW_SEC < timestamp) {
    throw decryptError(`${label} is a Fernet token dated more than 60 s in the future (clock skew)`);
  }
}

function macEquals(expected: Buffer, actual: Uint8Array): boolean {
  return actual.length === expected.length && timingSafeEqual(expected, actual);
}

/** Decrypts a token held in memory. Throws MigrateError('E_DECRYPT') on any failure. */
export function fernetDecrypt(token: string | Uint8Array, key: FernetKey, opts: FernetDecryptOptions = {}): Buffer {
  const label = opts.label ?? 'the input';
  let data: Buffer;
  try {
    const decoder = new PythonBase64Decoder();
    if (typeof token === 'string') {
      // Python raises ValueError for a non-ASCII str; bytes >= 0x80 in a bytes token are dropped.
      if (/[^\x00-\x7f]/.test(token)) throw new Base64DecodeError('non-ascii', 'non-ASCII string');
      data = decoder.update(Buffer.from(token, 'latin1'));
    } else {
      data = decoder.update(token);
    }
    decoder.final();
  } catch (error) {
    if (error instanceof Base64DecodeError) throw base64Failure(label, error);
    throw error;
  }
  checkStructure(label, data.length, data[0]);

  const signed = data.subarray(0, data.length - MAC_LEN);
  const mac = createHmac('sha256', key.signingKey).update(signed).digest();
  if (!macEquals(mac, data.subarray(data.length - MAC_LEN))) throw signatureFailure(label, key);
  checkTime(label, data.readBigUInt64BE(1), opts);

  const decipher = createDecipheriv('aes-128-cbc', key.encryptionKey, data.subarray(9, HEADER_LEN));
  try {
    return Buffer.concat([decipher.update(data.subarray(HEADER_LEN, data.length - MAC_LEN)), decipher.final()]);
  } catch (error) {
    throw paddingFailure(label, key, error);
  }
}

/**
 * Encrypts like `Fernet._encrypt_from_parts` (fixed iv and time). For tests and fixtures: the
 * product never writes tokens.
 */
export function fernetEncrypt(plaintext: Uint8Array, key: FernetKey, parts: { iv: Uint8Array; timestamp: number }): string {
  const cipher = createCipheriv('aes-128-cbc', key.encryptionKey, parts.iv);
  const header = Buffer.alloc(HEADER_LEN);
  header[0] = VERSION;
  header.writeBigUInt64BE(BigInt(parts.timestamp), 1);
  Buffer.from(parts.iv).copy(header, 9);
  const body = Buffer.concat([header, cipher.update(plaintext), cipher.final()]);
  const mac = createHmac('sha256', key.signingKey).update(body).digest();
  // urlsafe_b64encode keeps the '=' padding, unlike Node's 'base64url'.
  return Buffer.concat([body, mac]).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/**
 * Reads a whole file through the Python base64 decoder, chunk by chunk, from position 0. Both the
 * read buffer and the decoded buffer are reused: each yielded chunk is only valid until the
 * consumer asks for the next one. Fresh buffers per chunk were garbage the size of the file for
 * every pass, which V8 collects late (peak RSS grew with the file).
 */
async function* decodedChunks(fh: FileHandle, label: string): AsyncGenerator<Buffer> {
  const decoder = new PythonBase64Decoder();
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  const decoded = Buffer.allocUnsafe(PythonBase64Decoder.maxOutput(READ_CHUNK));
  let position = 0;
  try {
    while (!decoder.done) {
      const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const out = decoder.update(buf.subarray(0, bytesRead), decoded);
      if (out.length > 0) yield out;
    }
    decoder.final();
  } catch (error) {
    if (error instanceof Base64DecodeError) throw base64Failure(label, error);
    throw error;
  }
}

/**
 * Feeds an HMAC with everything but the last 32 bytes of a stream whose length is not known in
 * advance, by holding the latest 32 bytes back (copied: the chunks' buffers are reused).
 */
class TailHoldingMac {
  private readonly hmac: Hmac;
  private readonly tail = Buffer.alloc(MAC_LEN);
  private tailLength = 0;
  total = 0;

  constructor(signingKey: Buffer) {
    this.hmac = createHmac('sha256', signingKey);
  }

  /**
   * Takes the next chunk and returns, in order, the pieces now known not to be part of the
   * trailing tag (none, one or two), without joining them: joining copied every chunk. The pieces
   * may be views of `chunk` or of the held tail; they are valid until the next call.
   */
  update(chunk: Buffer): Buffer[] {
    this.total += chunk.length;
    const released: Buffer[] = [];
    if (chunk.length >= MAC_LEN) {
      if (this.tailLength > 0) released.push(Buffer.from(this.tail.subarray(0, this.tailLength)));
      if (chunk.length > MAC_LEN) released.push(chunk.subarray(0, chunk.length - MAC_LEN));
      chunk.copy(this.tail, 0, chunk.length - MAC_LEN);
      this.tailLength = MAC_LEN;
    } else {
      // At most 63 bytes: joining them costs nothing.
      const joined = Buffer.concat([this.tail.subarray(0, this.tailLength), chunk]);
      const cut = Math.max(0, joined.length - MAC_LEN);
      if (cut > 0) released.push(joined.subarray(0, cut));
      joined.copy(this.tail, 0, cut);
      this.tailLength = joined.length - cut;
    }
    for (const piece of released) this.hmac.update(piece);
    return released;
  }

  /** The computed tag and the tag found at the end of the stream. */
  finish(): { computed: Buffer; found: Buffer } {
    return { computed: this.hmac.digest(), found: Buffer.from(this.tail.subarray(0, this.tailLength)) };
  }
}

export interface OpenFernetFileOptions {
  /** How to name the file in error messages; defaults to its path. */
  label?: string;
}

/**
 * Verifies a Fernet token file and returns a stream of its plaintext.
 *
 * Resolves only after the whole file has been authenticated (pass 1), so a wrong key, a
 * truncated file or a malformed token rejects the promise with E_DECRYPT and no plaintext is
 * ever produced. The stream itself can still fail at its end with E_DECRYPT (bad padding under a
 * valid signature, or the file changed between the two passes); consumers must treat an errored
 * stream as a failed store, which the per-store transaction does.
 */
export async function openFernetFile(path: string, key: FernetKey, opts: OpenFernetFileOptions = {}): Promise<Readable> {
  const label = opts.label ?? path;
  // One descriptor for both passes: a rename or replacement of the path between them cannot
  // swap in another file (in-place writes are caught by the second MAC).
  const fh = await open(path, 'r');
  let handedOver = false;
  try {
    const pass1 = await macPass(fh, key, label);
    if (!pass1.verifies) throw signatureFailure(label, key);
    const { computed } = pass1;

    // The generator closes the file when it ends, but a stream destroyed before its first read
    // never starts the generator: closing on 'close' as well covers that case.
    const closeOnce = once(() => fh.close());
    const stream = Readable.from(decryptPass(fh, key, label, computed, pass1.total, closeOnce), { objectMode: false });
    stream.once('close', () => void closeOnce().catch(() => undefined));
    handedOver = true;
    return stream;
  } finally {
    if (!handedOver) await fh.close();
  }
}

/**
 * Pass 1: decodes and MACs the whole file. Throws E_DECRYPT when it is not a well-formed token
 * (not a key problem); otherwise says whether the tag matches under `key`.
 */
async function macPass(fh: FileHandle, key: FernetKey, label: string): Promise<{ verifies: boolean; computed: Buffer; total: number }> {
  const mac = new TailHoldingMac(key.signingKey);
  let firstByte: number | undefined;
  for await (const chunk of decodedChunks(fh, label)) {
    if (firstByte === undefined) {
      firstByte = chunk[0];
      // Fail fast on something that is not a Fernet token at all.
      if (firstByte !== VERSION) checkStructure(label, mac.total + chunk.length, firstByte);
    }
    mac.update(chunk);
  }
  checkStructure(label, mac.total, firstByte);
  const { computed, found } = mac.finish();
  return { verifies: macEquals(computed, found), computed, total: mac.total };
}

/**
 * Whether a Fernet token file's signature verifies under `key`, without decrypting anything:
 * what choosing among several candidate keys costs per candidate. A file that is not a
 * well-formed token rejects with E_DECRYPT whatever the key.
 */
export async function fernetFileVerifies(path: string, key: FernetKey, opts: OpenFernetFileOptions = {}): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    return (await macPass(fh, key, opts.label ?? path)).verifies;
  } finally {
    await fh.close();
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

/** Pass 2: decode again, decrypt the ciphertext range, re-MAC, and close the file in all cases. */
async function* decryptPass(
  fh: FileHandle,
  key: FernetKey,
  label: string,
  expectedMac: Buffer,
  expectedTotal: number,
  close: () => Promise<void>,
): AsyncGenerator<Buffer> {
  try {
    const mac = new TailHoldingMac(key.signingKey);
    let header = Buffer.alloc(0);
    let decipher: ReturnType<typeof createDecipheriv> | undefined;
    for await (const chunk of decodedChunks(fh, label)) {
      // The released pieces exclude the trailing tag, so they are header + ciphertext, in order.
      for (let piece of mac.update(chunk)) {
        if (decipher === undefined) {
          header = Buffer.concat([header, piece]);
          if (header.length < HEADER_LEN) continue;
          decipher = createDecipheriv('aes-128-cbc', key.encryptionKey, header.subarray(9, HEADER_LEN));
          piece = header.subarray(HEADER_LEN);
        }
        // update() returns a new buffer, so the output outlives the reused chunk.
        const out = decipher.update(piece);
        if (out.length > 0) yield out;
      }
    }
    const { computed } = mac.finish();
    if (mac.total !== expectedTotal || !macEquals(expectedMac, computed) || decipher === undefined) {
      throw decryptError(`${label} changed while it was being read; nothing read from it can be trusted, run again`);
    }
    let last: Buffer;
    try {
      last = decipher.final();
    } catch (error) {
      throw paddingFailure(label, key, error);
    }
    if (last.length > 0) yield last;
  } finally {
    await close();
  }
}
