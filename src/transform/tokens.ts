/**
 * Tokenizing once per text. Sorting a window of texts by length needs each text's token count,
 * and the model needs the same tokens padded per batch: tokenizing for the count and again for
 * the batch did the work twice (about 1.5% of a re-embedding run). Here the tokenizer runs once,
 * unpadded and truncated as the pipeline truncates, and each batch is padded from those tokens
 * exactly as transformers.js pads (tokenization_utils.js `_call` with `padding: true`): to the
 * batch's longest text, `pad_token_id` for input_ids and 0 for every other output, on the
 * tokenizer's padding side. test/embedder.test.ts checks the vectors against the pipeline's, bit
 * for bit.
 */
import { MigrateError } from '../errors.js';

/** One text's tokenizer outputs (input_ids, attention_mask, token_type_ids, ...), unpadded. */
export type Encoding = Readonly<Record<string, readonly number[]>>;

/** What this module reads of a transformers.js tokenizer. */
export interface BatchTokenizer {
  readonly pad_token_id?: number | null;
  readonly padding_side: string;
  (texts: string[], options: { padding: false; truncation: boolean; max_length?: number; add_special_tokens?: boolean; return_tensor: false }): unknown;
}

/**
 * Each text's encoding, truncated to `window` tokens (at most the tokenizer's model_max_length;
 * Infinity: the tokenizer's own), in the texts' order. A long text is tokenized only as far as the window reaches
 * (see `encodeLongText`): tokenizing a 38M-character text whole took 3.8 GB.
 */
export function encodeTexts(tokenizer: BatchTokenizer, texts: readonly string[], window: number): Encoding[] {
  if (texts.length === 0) return [];
  const limit = !Number.isFinite(window) ? Infinity : window * PREFIX_CHARS_PER_TOKEN * WHOLE_TEXT_PREFIXES;
  const short = texts.filter((t) => t.length <= limit);
  const encoded = tokenize(tokenizer, short, window);
  let next = 0;
  return texts.map((t) => (t.length <= limit ? (encoded[next++] as Encoding) : encodeLongText(tokenizer, t, window)));
}

function tokenize(tokenizer: BatchTokenizer, texts: readonly string[], window: number): Encoding[] {
  if (texts.length === 0) return [];
  const options = { padding: false, truncation: true, return_tensor: false } as const;
  return columnsOf(tokenizer([...texts], !Number.isFinite(window) ? options : { ...options, max_length: window }), texts.length);
}

/** The tokenizer's batch output (one array per output, one row per text) as one encoding per text. */
function columnsOf(out: unknown, texts: number): Encoding[] {
  if (out === null || typeof out !== 'object') throw new MigrateError('E_EMBED', 'the tokenizer returned no encodings');
  const columns = Object.entries(out as Record<string, unknown>);
  const ids = (out as Record<string, unknown>)['input_ids'];
  if (!Array.isArray(ids) || ids.length !== texts) throw new MigrateError('E_EMBED', `the tokenizer returned ${Array.isArray(ids) ? ids.length : 'no'} input_ids for ${texts} texts`);
  return Array.from({ length: texts }, (_, i) => Object.fromEntries(columns.map(([key, rows]) => [key, (rows as number[][])[i] as number[]])));
}

/**
 * The first prefix tried holds this many characters per token of the window: English averages
 * about 4 per WordPiece token, so most long texts need one try. Texts up to WHOLE_TEXT_PREFIXES
 * times that prefix are tokenized whole: the two prefixes a long text costs (below) are then
 * never more work than the whole text.
 */
const PREFIX_CHARS_PER_TOKEN = 8;
const WHOLE_TEXT_PREFIXES = 4;

/**
 * A long text's encoding, from a prefix instead of the whole text. No character bound per token
 * holds for every tokenizer (a run of whitespace makes no token, a 200-character word one [UNK]),
 * so prefixes grow until one proves enough: prefix A is cut before a whitespace character (a
 * word split at the cut would tokenize differently), B is cut the same way at twice A's length,
 * and A is accepted when its truncated encoding fills the window and equals B's. A word or a
 * normalization (lowercasing 'İ' gives two characters) that straddles A's end changes the tokens
 * of A but not of B, so they differ and the prefixes grow; a text with no acceptable prefix is
 * tokenized whole, as before. The result is the whole text's truncated encoding, token for token
 * (test/tokens.test.ts compares them on long words, whitespace runs, CJK, emoji, combining marks
 * and texts exactly at the window).
 */
function encodeLongText(tokenizer: BatchTokenizer, text: string, window: number): Encoding {
  let chars = window * PREFIX_CHARS_PER_TOKEN;
  for (;;) {
    const a = cutBeforeWhitespace(text, chars);
    const b = cutBeforeWhitespace(text, 2 * a);
    if (b >= text.length) break;
    const [first, second] = tokenize(tokenizer, [text.slice(0, a), text.slice(0, b)], window) as [Encoding, Encoding];
    if (tokenCount(first) === window && sameEncoding(first, second)) return first;
    chars = b;
  }
  return tokenize(tokenizer, [text], window)[0] as Encoding;
}

/** Where to end a prefix of at least `chars` characters: before the next whitespace within as many more, else at `chars` (never inside a surrogate pair). */
function cutBeforeWhitespace(text: string, chars: number): number {
  if (chars >= text.length) return text.length;
  const end = Math.min(text.length, 2 * chars);
  for (let i = chars; i < end; i++) if (WHITESPACE.test(text[i] as string)) return i;
  const code = text.charCodeAt(chars - 1);
  return code >= 0xd800 && code <= 0xdbff ? chars + 1 : chars;
}

const WHITESPACE = /\s/;

function sameEncoding(a: Encoding, b: Encoding): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => {
    const x = a[key];
    const y = b[key];
    return x !== undefined && y !== undefined && x.length === y.length && x.every((v, i) => v === y[i]);
  });
}

/**
 * The special tokens the tokenizer puts after a text (`[SEP]` for BERT), found by encoding a probe
 * with and without them; an empty encoding when it adds none after the text.
 */
export function closingTokens(tokenizer: BatchTokenizer): Encoding {
  const probe = 'a';
  const options = { padding: false, truncation: false, return_tensor: false } as const;
  const [full] = columnsOf(tokenizer([probe], options), 1);
  const [bare] = columnsOf(tokenizer([probe], { ...options, add_special_tokens: false }), 1);
  const ids = full?.['input_ids'] ?? [];
  const inner = bare?.['input_ids'] ?? [];
  const start = ids.findIndex((_, i) => inner.every((v, k) => ids[i + k] === v));
  if (inner.length === 0 || start < 0) throw new MigrateError('E_MODEL', 'cannot tell which special tokens the tokenizer adds after a text');
  const from = start + inner.length;
  return Object.fromEntries(Object.entries(full ?? {}).map(([key, values]) => [key, values.slice(from)]));
}

/**
 * Truncation as Python's tokenizers do it (what sentence-transformers embeds): a text cut at the
 * window keeps the closing special tokens, in place of its last tokens. transformers.js cuts the
 * encoding instead, dropping them. `encoding` is the transformers.js encoding at the same window.
 */
export function keepClosingTokens(encoding: Encoding, closing: Encoding): Encoding {
  const keys = Object.keys(closing);
  const tail = closing['input_ids']?.length ?? 0;
  const count = tokenCount(encoding);
  if (tail === 0 || count < tail) return encoding;
  const ends = keys.every((key) => (closing[key] ?? []).every((v, k) => encoding[key]?.[count - tail + k] === v));
  if (ends) return encoding;
  return Object.fromEntries(Object.entries(encoding).map(([key, values]) => [key, [...values.slice(0, count - tail), ...(closing[key] ?? values.slice(count - tail))]]));
}

/** The number of tokens the model sees for an encoding (special tokens included). */
export function tokenCount(encoding: Encoding): number {
  return encoding['input_ids']?.length ?? 0;
}

/** One batch's model inputs: for each tokenizer output, int64 data of shape [texts, longest]. */
export type PaddedBatch = Record<string, { data: BigInt64Array; dims: [number, number] }>;

/** Which int32 word of an int64 holds its low 32 bits on this machine (0 when little-endian: x86, arm64). */
const LOW_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;

/** Pads `encodings` to the longest of them, as the tokenizer pads a batch. */
export function padBatch(tokenizer: Pick<BatchTokenizer, 'pad_token_id' | 'padding_side'>, encodings: readonly Encoding[]): PaddedBatch {
  const first = encodings[0];
  if (first === undefined) throw new MigrateError('E_INTERNAL', 'cannot pad an empty batch');
  const longest = Math.max(...encodings.map(tokenCount));
  const left = tokenizer.padding_side === 'left';
  const batch: PaddedBatch = {};
  for (const key of Object.keys(first)) {
    const pad = key === 'input_ids' ? tokenizer.pad_token_id : 0;
    const data = new BigInt64Array(encodings.length * longest);
    // Written as pairs of int32 words: a BigInt per token cost more than the copy itself. Token
    // ids, masks and type ids are small integers, so the high word is the sign.
    const words = new Int32Array(data.buffer);
    const put = (at: number, v: number): void => {
      if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new MigrateError('E_EMBED', `the tokenizer returned ${v} in ${key}, not a 32-bit integer`);
      words[2 * at + LOW_WORD] = v;
      words[2 * at + 1 - LOW_WORD] = v < 0 ? -1 : 0;
    };
    encodings.forEach((encoding, row) => {
      const values = encoding[key] ?? [];
      const padding = longest - values.length;
      if (padding > 0 && (pad === null || pad === undefined)) {
        throw new MigrateError('E_MODEL', 'the tokenizer has no pad token, so texts of different lengths cannot share a batch; use --batch-size 1');
      }
      let at = row * longest;
      if (left) for (let k = 0; k < padding; k++) put(at++, pad as number);
      for (const v of values) put(at++, v);
      if (!left) for (let k = 0; k < padding; k++) put(at++, pad as number);
    });
    batch[key] = { data, dims: [encodings.length, longest] };
  }
  return batch;
}
