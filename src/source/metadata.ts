/**
 * Reads metadata.json (plain JSON or one Fernet token) as a stream of entries, in constant memory.
 *
 * The bytes go: file (or Fernet plaintext stream) -> strict UTF-8 decoding -> stream-json's
 * tokenizer -> EntryAssembler below, which yields one object per array element. We tokenize with
 * stream-json but assemble the objects ourselves because stream-json's Assembler does
 * `object[key] = value`: a key `"__proto__"` then replaces the entry's prototype instead of
 * becoming a property (`{"__proto__": {"text": "x"}}` would come out with no own key and an
 * inherited `text`). Python, and JSON.parse, make it an ordinary key; so do we. Assembling
 * ourselves also lets a wrong shape be reported with the index and the type found.
 *
 * Verified to come out exactly as Python's json.loads (test/metadata.test.ts): \u0000, lone
 * surrogates (\ud800), surrogate pairs, emoji and other non-ASCII written raw or escaped, \t \n
 * and backslashes, also when a chunk boundary cuts an escape or a multi-byte character.
 * Known differences from Python's json:
 *   - `NaN` / `Infinity` / `-Infinity` are refused (E_METADATA). Python's json.dump writes them
 *     for non-finite floats (allow_nan defaults to True), so a store whose metadata held one
 *     loaded in the application and fails here; they are not JSON and have no jsonb form.
 *   - integers beyond 2^53 become the nearest double (as with JSON.parse); Python keeps them.
 *   - object keys that look like array indices come first in a JS object (jsonb reorders keys
 *     anyway); duplicate keys keep the last value in both.
 *   - stream-json accepts any Unicode whitespace between tokens where Python accepts JSON's four:
 *     more files are accepted, no value differs.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import Parser from 'stream-json/Parser.js';
import { MigrateError, isMigrateError } from '../errors.js';
import { openFernetFile } from './fernet.js';
import { setJsonKey } from './jsonKey.js';
import { describeUtf8Error, findUtf8Error, incompleteTail } from './utf8.js';
import type { FernetKey } from './keys.js';
import type { MetadataEntry } from './types.js';

export interface MetadataContext {
  userId: string;
  collection: string;
}

export type MetadataEncoding = 'fernet' | 'json';

const SNIFF_CHUNK = 64 * 1024;
const READ_CHUNK = 256 * 1024;
/**
 * Bytes decoded into one string for the parser. A string over V8's regular object size (128 KB;
 * a 256 KB read or a decrypted chunk made one) lives in the large-object space, which only a full
 * GC frees; stream-json also joins its leftover to each chunk and flattens the result, a second
 * copy. With 32 KB pieces every string is a young object freed by the next scavenge: measured on a
 * 100k-entry encrypted file, the reader's peak RSS fell from 134 to 96 MB (26 MB of large objects).
 */
export const TEXT_PIECE = 32 * 1024;
const TOKEN_PREFIX = Buffer.from('gAAAAA', 'latin1');
/**
 * Arrays and objects (the top-level array included) nested deeper than this are refused.
 * Python's json.loads raises RecursionError just below 1000 levels (3.11: 992 read, 1002 not),
 * so the application never read such a file; and every consumer
 * of an entry (JSON.stringify for jsonb, the database) recurses over it, so an entry 10^6 levels
 * deep (2 MB of brackets) would overflow their stacks.
 */
export const MAX_METADATA_NESTING = 1000;

export function metadataLabel(ctx: MetadataContext): string {
  return `metadata.json of ${ctx.userId}/${ctx.collection}`;
}

function isJsonWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function systemErrorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

function readFailure(label: string, error: unknown): MigrateError {
  if (isMigrateError(error)) return error;
  const code = systemErrorCode(error);
  const detail = error instanceof Error ? error.message : String(error);
  if (code === 'ENOENT') return new MigrateError('E_MISSING_FILE', `${label} does not exist`, { cause: error });
  if (code !== undefined) return new MigrateError('E_METADATA', `${label} cannot be read: ${detail}`, { cause: error });
  return new MigrateError('E_METADATA', `${label}: ${detail}`, { cause: error });
}

/**
 * Tells a Fernet token from plain JSON by the first non-whitespace bytes, as a person would:
 * `gAAAAA` (version 0x80 and a timestamp below 2^36) is a token, `[` is JSON. Anything else was
 * not written by the application.
 */
export async function detectMetadataEncoding(path: string, label = path): Promise<MetadataEncoding> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (error) {
    throw readFailure(label, error);
  }
  try {
    const buf = Buffer.alloc(SNIFF_CHUNK);
    let position = 0;
    let head = Buffer.alloc(0);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, SNIFF_CHUNK, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      let chunk = buf.subarray(0, bytesRead);
      if (head.length === 0) {
        let i = 0;
        while (i < chunk.length && isJsonWhitespace(chunk[i] as number)) i++;
        chunk = chunk.subarray(i);
      }
      head = Buffer.concat([head, chunk]);
      if (head.length >= TOKEN_PREFIX.length) break;
    }
    if (head.length === 0) {
      throw new MigrateError('E_METADATA', `${label} is empty (or only whitespace): expected a JSON array or a Fernet token`);
    }
    if (head[0] === 0x5b) return 'json';
    if (head.subarray(0, TOKEN_PREFIX.length).equals(TOKEN_PREFIX)) return 'fernet';
    const preview = JSON.stringify(head.subarray(0, 8).toString('latin1'));
    const why =
      head[0] === 0x7b
        ? 'it is a JSON object, expected an array of objects'
        : head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf
          ? 'it starts with a UTF-8 byte-order mark, which the application never wrote'
          : `it starts with ${preview}`;
    throw new MigrateError('E_METADATA', `${label} is neither a JSON array (starting with '[') nor a Fernet token (starting with 'gAAAAA'): ${why}`);
  } catch (error) {
    throw readFailure(label, error);
  } finally {
    await fh.close();
  }
}

/**
 * Strict UTF-8: a file Python could not have read as text must not turn into U+FFFD silently.
 * Emits strings of at most TEXT_PIECE UTF-16 units (+3 for a character cut by the previous
 * piece), whatever the size of the chunks it gets.
 */
export class StrictUtf8 extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  /** Bytes decoded so far: the file offset of the next piece. */
  private offset = 0;
  /** The last (up to 3) bytes decoded: where a character cut by a piece boundary began. */
  private tail = new Uint8Array(0);

  constructor(private readonly label: string) {
    // Strings out, so the parser does not decode the same bytes a second time.
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (let at = 0; at < chunk.length; at += TEXT_PIECE) {
      const piece = chunk.subarray(at, at + TEXT_PIECE);
      let text: string;
      try {
        text = this.decoder.decode(piece, { stream: true });
      } catch (error) {
        callback(this.failure(error, piece, false));
        return;
      }
      this.remember(piece);
      if (text.length > 0) this.push(text);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      const rest = this.decoder.decode();
      if (rest.length > 0) this.push(rest);
      callback();
    } catch (error) {
      callback(this.failure(error, new Uint8Array(0), true));
    }
  }

  private remember(piece: Uint8Array): void {
    const joined = piece.length >= 3 ? piece.subarray(piece.length - 3) : Buffer.concat([this.tail, piece]).subarray(-3);
    // A copy: the chunk's buffer may be reused once this piece is consumed.
    this.tail = Uint8Array.from(joined);
    this.offset += piece.length;
  }

  /**
   * Names the failing byte by its offset in the whole input (what Python's UnicodeDecodeError
   * calls `start`), not by the piece it was found in: the bytes a cut character left pending
   * are put back in front of the piece and the piece is scanned again, which only failures pay.
   */
  private failure(error: unknown, piece: Uint8Array, final: boolean): MigrateError {
    const pending = this.tail.subarray(this.tail.length - incompleteTail(this.tail));
    const bytes = Buffer.concat([pending, piece]);
    const found = findUtf8Error(bytes, final);
    const where =
      found === null
        ? `somewhere after byte offset ${this.offset - pending.length}`
        : `at byte offset ${this.offset - pending.length + found.at} (counting from 0; of the decrypted text for an encrypted file): ${describeUtf8Error(bytes, found)}`;
    return new MigrateError('E_METADATA', `${this.label} is not valid UTF-8, ${where}; Python could not have read it either`, { cause: error });
  }
}

type Container = Record<string, unknown> | unknown[];

interface JsonToken {
  name: string;
  value?: unknown;
}

function describeToken(name: string): string {
  switch (name) {
    case 'startArray':
      return 'an array';
    case 'startObject':
      return 'an object';
    case 'stringValue':
      return 'a string';
    case 'numberValue':
      return 'a number';
    case 'nullValue':
      return 'null';
    case 'trueValue':
    case 'falseValue':
      return 'a boolean';
    default:
      return name;
  }
}

/**
 * Turns stream-json tokens (packed values, no chunk tokens) into one object per element of the
 * top-level array, handing each to `emit`. With `countOnly`, checks the same shape but builds
 * nothing and emits the index. A plain class fed from the parser's 'data' events rather than a
 * Transform: a stream hop per token cost a third of the parsing time.
 */
class EntryAssembler {
  private started = false;
  private finished = false;
  /** Entries completed so far: the index of the next one. */
  index = 0;
  private depth = 0; // 0 = outside everything, 1 = inside the top array
  private readonly stack: Container[] = [];
  private readonly keys: (string | null)[] = [];
  private current: Container | null = null;
  private key: string | null = null;

  constructor(
    private readonly label: string,
    private readonly countOnly: boolean,
    private readonly emit: (entry: unknown) => void,
  ) {}

  /** Called at the end of input: throws if the array never started or never ended. */
  finish(): void {
    if (!this.started) {
      throw new MigrateError('E_METADATA', `${this.label} holds no JSON value: expected an array of objects`);
    }
    if (!this.finished) {
      throw new MigrateError('E_METADATA', `${this.label} ends inside the top-level array, after ${this.index} entries (truncated?)`);
    }
  }

  private shapeError(found: string): MigrateError {
    return new MigrateError('E_METADATA', `${this.label}: entry ${this.index} is ${found}, expected an object (the file must be a JSON array of objects)`);
  }

  consume(token: JsonToken): void {
    const name = token.name;
    if (!this.started) {
      if (name !== 'startArray') {
        throw new MigrateError('E_METADATA', `${this.label}: the top level is ${describeToken(name)}, expected an array of objects`);
      }
      this.started = true;
      this.depth = 1;
      return;
    }
    if (this.depth === 1) {
      if (name === 'endArray') {
        this.depth = 0;
        this.finished = true;
        return;
      }
      if (name !== 'startObject') throw this.shapeError(describeToken(name));
    }
    if (this.countOnly) {
      this.countToken(name);
      return;
    }
    switch (name) {
      case 'startObject':
        this.open({});
        break;
      case 'startArray':
        this.open([]);
        break;
      case 'endObject':
      case 'endArray':
        this.close();
        break;
      case 'keyValue':
        this.key = token.value as string;
        break;
      case 'stringValue':
        this.save(token.value as string);
        break;
      case 'numberValue':
        // Same conversion as JSON.parse; integers beyond 2^53 round, as they would there.
        this.save(Number(token.value as string));
        break;
      case 'nullValue':
        this.save(null);
        break;
      case 'trueValue':
        this.save(true);
        break;
      case 'falseValue':
        this.save(false);
        break;
      default:
        // Chunk tokens (startString, stringChunk, ...) are not requested from the parser.
        break;
    }
  }

  private deeper(): void {
    if (++this.depth > MAX_METADATA_NESTING) {
      throw new MigrateError('E_METADATA', `${this.label}: entry ${this.index} nests arrays/objects more than ${MAX_METADATA_NESTING} levels deep (counting the top-level array); Python's json could not have read it`);
    }
  }

  private countToken(name: string): void {
    if (name === 'startObject' || name === 'startArray') this.deeper();
    else if (name === 'endObject' || name === 'endArray') {
      this.depth--;
      if (this.depth === 1) this.emit(this.index++);
    }
  }

  private open(container: Container): void {
    if (this.current !== null) {
      this.stack.push(this.current);
      this.keys.push(this.key);
    }
    this.current = container;
    this.key = null;
    this.deeper();
  }

  private close(): void {
    const done = this.current;
    this.depth--;
    if (this.depth === 1) {
      this.current = null;
      this.key = null;
      this.index++;
      this.emit(done);
      return;
    }
    this.current = this.stack.pop() ?? null;
    this.key = this.keys.pop() ?? null;
    this.save(done);
  }

  private save(value: unknown): void {
    const target = this.current;
    if (Array.isArray(target)) {
      target.push(value);
    } else if (target !== null && this.key !== null) {
      setJsonKey(target, this.key, value);
      this.key = null;
    }
  }
}

export interface ParseOptions {
  /** Check the shape and count entries without building them (countMetadataEntries). */
  countOnly?: boolean;
}

/**
 * Tokenizes and assembles `input`. Yields entries, or in countOnly mode each entry's index.
 * Backpressure: the parser is paused while `entries` holds a full buffer, and resumed when the
 * consumer reads. On error or early return everything is destroyed, which closes the file.
 */
async function* assemble(input: Readable, label: string, countOnly: boolean): AsyncGenerator<unknown> {
  // decodeStrings: false keeps StrictUtf8's strings as strings (stream-json accepts both).
  const tokens = Parser.parser({ packValues: true, streamValues: false, decodeStrings: false });
  const entries = new Readable({
    objectMode: true,
    highWaterMark: 64,
    read: () => {
      tokens.resume();
    },
  });
  const assembler = new EntryAssembler(label, countOnly, (entry) => {
    if (!entries.push(entry)) tokens.pause();
  });
  const fail = (error: unknown): void => {
    if (!entries.destroyed) entries.destroy(error as Error);
  };
  tokens.on('data', (token: JsonToken) => {
    if (entries.destroyed) return;
    try {
      assembler.consume(token);
    } catch (error) {
      fail(error);
      tokens.destroy();
    }
  });
  tokens.on('end', () => {
    try {
      assembler.finish();
      entries.push(null);
    } catch (error) {
      fail(error);
    }
  });
  pipeline(input, new StrictUtf8(label), tokens, (error) => {
    if (error) fail(error);
  });
  try {
    yield* entries;
  } catch (error) {
    if (isMigrateError(error)) throw error;
    if (systemErrorCode(error) !== undefined) throw readFailure(label, error);
    const detail = error instanceof Error ? error.message : String(error);
    throw new MigrateError('E_METADATA', `${label} is not valid JSON (after ${assembler.index} complete entries): ${detail}`, { cause: error });
  } finally {
    if (!tokens.destroyed) tokens.destroy();
    if (!entries.destroyed) entries.destroy();
  }
}

/** The parsing half, on any byte stream: lets tests feed in-memory input split anywhere. */
export async function* parseMetadataStream(input: Readable, label: string): AsyncGenerator<MetadataEntry> {
  for await (const entry of assemble(input, label, false)) yield entry as MetadataEntry;
}

async function openMetadata(path: string, key: FernetKey, label: string): Promise<Readable> {
  const encoding = await detectMetadataEncoding(path, label);
  if (encoding === 'json') return createReadStream(path, { highWaterMark: READ_CHUNK });
  try {
    return await openFernetFile(path, key, { label });
  } catch (error) {
    throw readFailure(label, error); // E_DECRYPT passes through; I/O errors get a code too
  }
}

/**
 * The entries of one metadata.json, in order. Fernet files are authenticated in full before the
 * first entry is produced (E_DECRYPT otherwise); a file that looks like a token is never parsed
 * as plain JSON.
 */
export async function* readMetadataEntries(path: string, key: FernetKey, ctx: MetadataContext): AsyncGenerator<MetadataEntry> {
  const label = metadataLabel(ctx);
  yield* parseMetadataStream(await openMetadata(path, key, label), label);
}

/** Number of entries, with the same checks as reading them but without building the objects. */
export async function countMetadataEntries(path: string, key: FernetKey, ctx: MetadataContext): Promise<number> {
  const label = metadataLabel(ctx);
  let n = 0;
  for await (const _ of assemble(await openMetadata(path, key, label), label, true)) n++;
  return n;
}
