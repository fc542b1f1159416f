/**
 * Reads metadata.json (plain JSON or one Fernet token) as a stream of entries, in constant memory.
 *
 * The bytes go: file (or Fernet plaintext stream) -> strict UTF-8 decoding -> stream-json's
 * tokenizer -> EntryAssembler below, which yields one object per array element (built by
 * jsonValue.ts). We tokenize with stream-json but assemble the objects ourselves because
 * stream-json's Assembler does `object[key] = value`: a key `"__proto__"` then replaces the
 * entry's prototype instead of becoming a property (`{"__proto__": {"text": "x"}}` would come
 * out with no own key and an inherited `text`). Python, and JSON.parse, make it an ordinary key;
 * so do we. Assembling ourselves also lets a wrong shape be reported with the index and the type
 * found.
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
import { Readable, pipeline } from 'node:stream';
import { MigrateError, isMigrateError } from '../errors.js';
import { openFernetFile } from './fernet.js';
import { JsonValueBuilder, jsonTokenizer, type JsonToken } from './jsonValue.js';
import { StrictUtf8 } from './strictUtf8.js';
import type { FernetKey } from './keys.js';
import type { MetadataEntry } from './types.js';
import { storeLabel } from '../storeLabel.js';

export interface MetadataContext {
  userId: string;
  collection: string;
}

export type MetadataEncoding = 'fernet' | 'json';

const SNIFF_CHUNK = 64 * 1024;
const READ_CHUNK = 256 * 1024;
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
  return `metadata.json of ${storeLabel(ctx)}`;
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
 * Turns stream-json tokens into one object per element of the top-level array, handing each to
 * `emit`; JsonValueBuilder builds the element. With `countOnly`, checks the same shape but builds
 * nothing and emits the index. A plain class fed from the parser's 'data' events rather than a
 * Transform: a stream hop per token cost a third of the parsing time.
 */
class EntryAssembler {
  private started = false;
  private finished = false;
  /** Entries completed so far: the index of the next one. */
  index = 0;
  private readonly entry: JsonValueBuilder;

  constructor(
    private readonly label: string,
    private readonly countOnly: boolean,
    emit: (entry: unknown) => void,
  ) {
    this.entry = new JsonValueBuilder({
      // The top-level array is the first of the MAX_METADATA_NESTING levels.
      maxDepth: MAX_METADATA_NESTING - 1,
      tooDeep: () =>
        new MigrateError('E_METADATA', `${this.label}: entry ${this.index} nests arrays/objects more than ${MAX_METADATA_NESTING} levels deep (counting the top-level array); Python's json could not have read it`),
      done: (value) => {
        const index = this.index++;
        emit(countOnly ? index : value);
      },
    });
  }

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
      return;
    }
    if (!this.entry.reading) {
      if (name === 'endArray') {
        this.finished = true;
        return;
      }
      if (name !== 'startObject') throw this.shapeError(describeToken(name));
    }
    this.entry.feed(token, !this.countOnly);
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
  const tokens = jsonTokenizer();
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
