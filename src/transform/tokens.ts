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
  (texts: string[], options: { padding: false; truncation: true; return_tensor: false }): unknown;
}

/** Each text's encoding, truncated to the tokenizer's model_max_length, in the texts' order. */
export function encodeTexts(tokenizer: BatchTokenizer, texts: readonly string[]): Encoding[] {
  if (texts.length === 0) return [];
  const out = tokenizer([...texts], { padding: false, truncation: true, return_tensor: false });
  if (out === null || typeof out !== 'object') throw new MigrateError('E_EMBED', 'the tokenizer returned no encodings');
  const columns = Object.entries(out as Record<string, unknown>);
  const ids = (out as Record<string, unknown>)['input_ids'];
  if (!Array.isArray(ids) || ids.length !== texts.length) throw new MigrateError('E_EMBED', `the tokenizer returned ${Array.isArray(ids) ? ids.length : 'no'} input_ids for ${texts.length} texts`);
  return texts.map((_, i) => Object.fromEntries(columns.map(([key, rows]) => [key, (rows as number[][])[i] as number[]])));
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
