/**
 * Streams the entries of a JSON file shaped `{ section: { key: value, ... }, ... }` (LlamaIndex's
 * vector_store.json: `embedding_dict`, `metadata_dict`, ...) in file order, building only the
 * sections asked for. A vector store has no size bound (100k x 1536 floats is 2-3 GB of text), so
 * it is never held whole: stream-json tokenizes it and each entry is handed out as soon as it
 * closes. File order matters too, and a plain object loses it (integer-like keys come first).
 */
import { createReadStream } from 'node:fs';
import { MigrateError, isMigrateError } from '../../errors.js';
import { JsonValueBuilder, jsonTokenizer, type JsonToken } from '../jsonValue.js';
import { MAX_METADATA_NESTING } from '../metadata.js';
import { StrictUtf8 } from '../strictUtf8.js';

export interface SectionEntry {
  section: string;
  key: string;
  /** The built value; `undefined` when the section was asked for keys only. */
  value: unknown;
}

/** Per top-level key: build each entry's value, or only report its key. Others are skipped. */
export type SectionPlan = Record<string, 'build' | 'keys'>;

const READ_CHUNK = 256 * 1024;
/** Entries buffered before the parser pauses for the consumer. */
const BATCH = 64;

/** The top-level object and its sections are its own two levels; JsonValueBuilder reads each entry. */
class SectionAssembler {
  private depth = 0;
  private started = false;
  private finished = false;
  private section: string | null = null;
  private mode: 'build' | 'keys' | 'skip' = 'skip';
  private entryKey: string | null = null;
  private readonly entry: JsonValueBuilder;
  /** Entries finished and not yet handed out. */
  readonly out: SectionEntry[] = [];

  constructor(
    private readonly label: string,
    private readonly plan: SectionPlan,
  ) {
    this.entry = new JsonValueBuilder({
      // Counting the top-level object and the section, as Python's recursion limit does.
      maxDepth: MAX_METADATA_NESTING - 2,
      tooDeep: () => new MigrateError('E_FORMAT', `${this.label}: "${this.section}" nests arrays/objects more than ${MAX_METADATA_NESTING} levels deep; Python's json could not have read it`),
      done: (value) => {
        if (this.mode !== 'skip') this.out.push({ section: this.section ?? '', key: this.entryKey ?? '', value });
      },
    });
  }

  finish(): void {
    if (!this.started) throw new MigrateError('E_FORMAT', `${this.label} holds no JSON value: expected an object`);
    if (!this.finished) throw new MigrateError('E_FORMAT', `${this.label} ends before its top-level object closes (truncated?)`);
  }

  consume(token: JsonToken): void {
    const name = token.name;
    if (this.finished) throw new MigrateError('E_FORMAT', `${this.label} has data after its top-level object`);
    if (!this.started) {
      if (name !== 'startObject') throw new MigrateError('E_FORMAT', `${this.label}: the top level is not a JSON object`);
      this.started = true;
      this.depth = 1;
      return;
    }
    if (this.depth === 1) {
      if (name === 'endObject') {
        this.depth = 0;
        this.finished = true;
      } else if (name === 'keyValue') {
        this.section = (token.value as string | undefined) ?? '';
        const mode = Object.hasOwn(this.plan, this.section) ? this.plan[this.section] : undefined;
        this.mode = mode ?? 'skip';
      } else if (name === 'startObject' || name === 'startArray') {
        if (this.mode !== 'skip' && name !== 'startObject') {
          throw new MigrateError('E_FORMAT', `${this.label}: "${this.section}" is not a JSON object`);
        }
        this.depth = 2;
      } else if (this.mode !== 'skip') {
        throw new MigrateError('E_FORMAT', `${this.label}: "${this.section}" is not a JSON object`);
      }
      return;
    }
    if (!this.entry.reading) {
      if (name === 'keyValue') {
        this.entryKey = (token.value as string | undefined) ?? '';
        return;
      }
      if (name === 'endObject' || name === 'endArray') {
        this.depth = 1;
        return;
      }
    }
    this.entry.feed(token, this.mode === 'build');
  }
}

/**
 * The entries of the planned sections, in file order; the file is closed on error or early return.
 * Tokens feed the assembler from 'data' events, not through an async iterator: a promise per token
 * made reading ~10x slower. The parser pauses while the consumer lags behind by a batch.
 */
export async function* readJsonSections(path: string, label: string, plan: SectionPlan): AsyncGenerator<SectionEntry> {
  const file = createReadStream(path, { highWaterMark: READ_CHUNK });
  const utf8 = new StrictUtf8(label);
  const tokens = jsonTokenizer();
  const assembler = new SectionAssembler(label, plan);
  let failed: unknown = null;
  let ended = false;
  let wake: (() => void) | null = null;
  const signal = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  const fail = (error: unknown): void => {
    if (failed === null) failed = error;
    signal();
  };
  tokens.on('data', (token: JsonToken) => {
    if (failed !== null) return;
    try {
      assembler.consume(token);
    } catch (error) {
      fail(error);
      tokens.destroy();
      return;
    }
    if (assembler.out.length >= BATCH) {
      tokens.pause();
      signal();
    }
  });
  tokens.on('end', () => {
    try {
      assembler.finish();
    } catch (error) {
      fail(error);
    }
    ended = true;
    signal();
  });
  tokens.on('error', fail);
  utf8.on('error', fail);
  file.on('error', fail);
  file.pipe(utf8).pipe(tokens);
  try {
    for (;;) {
      if (assembler.out.length > 0) {
        yield* assembler.out.splice(0);
        continue;
      }
      if (failed !== null) throw failed;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
        tokens.resume();
      });
    }
  } catch (error) {
    if (isMigrateError(error)) {
      // StrictUtf8 reports E_METADATA (its home is metadata.json); here the fault is the store's format.
      throw error.code === 'E_FORMAT' ? error : new MigrateError('E_FORMAT', error.message, { cause: error });
    }
    const detail = error instanceof Error ? error.message : String(error);
    throw new MigrateError('E_FORMAT', `${label} cannot be read as JSON: ${detail}`, { cause: error });
  } finally {
    file.destroy();
    utf8.destroy();
    tokens.destroy();
  }
}
