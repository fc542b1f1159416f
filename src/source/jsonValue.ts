/**
 * One JSON value built from stream-json's tokens, for the readers that hand out the elements of a
 * document too large to hold (metadata.ts: the entries of the top-level array; formats/jsonSections.ts:
 * the entries of a section). stream-json's own Assembler does `object[key] = value`, which turns a
 * `"__proto__"` key into the entry's prototype instead of a property; setJsonKey keeps it a key, as
 * Python and JSON.parse do.
 */
import Parser from 'stream-json/Parser.js';
import { setJsonKey } from './jsonKey.js';

/** A token of `jsonTokenizer()`: whole values (packed), never the chunk tokens. */
export interface JsonToken {
  name: string;
  value?: unknown;
}

/** The tokenizer both readers feed from the strings of StrictUtf8. */
export function jsonTokenizer(): Parser {
  // decodeStrings: false keeps StrictUtf8's strings as strings (stream-json accepts both).
  return Parser.parser({ packValues: true, streamValues: false, decodeStrings: false });
}

type Container = Record<string, unknown> | unknown[];

export interface JsonValueOptions {
  /** Arrays and objects this value may nest (the reader's own levels above it already counted off). */
  maxDepth: number;
  /** The reader's error for a value nested deeper, naming where it is. */
  tooDeep: () => Error;
  /** Called once a whole value has been read: the value, or undefined when it was only skipped. */
  done: (value: unknown) => void;
}

/**
 * Fed the tokens of one value after another. `reading` tells the reader whether a token belongs to
 * the value in progress or to its own level (a key, the closing bracket of the container).
 */
export class JsonValueBuilder {
  /** Arrays and objects open in the value in progress (0: between values). */
  private depth = 0;
  private readonly stack: Container[] = [];
  private readonly keys: (string | null)[] = [];
  private current: Container | null = null;
  private key: string | null = null;

  constructor(private readonly options: JsonValueOptions) {}

  get reading(): boolean {
    return this.depth > 0;
  }

  /** With `build` false the value is only checked for depth and its end found: nothing is allocated. */
  feed(token: JsonToken, build: boolean): void {
    if (!build) {
      this.skip(token.name);
      return;
    }
    switch (token.name) {
      case 'startObject':
        this.open({});
        return;
      case 'startArray':
        this.open([]);
        return;
      case 'endObject':
      case 'endArray':
        this.close();
        return;
      case 'keyValue':
        this.key = token.value as string;
        return;
      case 'stringValue':
        this.save(token.value as string);
        return;
      case 'numberValue':
        // Same conversion as JSON.parse; integers beyond 2^53 round, as they would there.
        this.save(Number(token.value as string));
        return;
      case 'nullValue':
        this.save(null);
        return;
      case 'trueValue':
        this.save(true);
        return;
      case 'falseValue':
        this.save(false);
        return;
      default:
        // Chunk tokens (startString, stringChunk, ...) are not requested from the parser.
        return;
    }
  }

  private deeper(): void {
    if (++this.depth > this.options.maxDepth) throw this.options.tooDeep();
  }

  private skip(name: string): void {
    if (name === 'startObject' || name === 'startArray') {
      this.deeper();
      return;
    }
    if (name === 'endObject' || name === 'endArray') this.depth--;
    else if (name === 'keyValue') return;
    if (this.depth === 0) this.options.done(undefined);
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
    this.current = this.stack.pop() ?? null;
    this.key = this.keys.pop() ?? null;
    this.save(done);
  }

  private save(value: unknown): void {
    const target = this.current;
    if (target === null) this.options.done(value);
    else if (Array.isArray(target)) target.push(value);
    else if (this.key !== null) {
      setJsonKey(target, this.key, value);
      this.key = null;
    }
  }
}
