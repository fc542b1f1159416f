/**
 * Tokens computed once per text and padded per batch (src/transform/tokens.ts) must be exactly
 * what the tokenizer itself gives for the batch with `padding: true, truncation: true`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeTexts, padBatch, tokenCount, type BatchTokenizer } from '../src/transform/tokens.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TINY = path.join(REPO, 'fixtures', 'models', 'tiny-bert');

type Tokenizer = Awaited<ReturnType<(typeof import('@huggingface/transformers'))['AutoTokenizer']['from_pretrained']>>;
let tokenizer: Tokenizer;

beforeAll(async () => {
  const { AutoTokenizer } = await import('@huggingface/transformers');
  tokenizer = await AutoTokenizer.from_pretrained(TINY, { local_files_only: true });
});

const TEXTS = ['a', 'alpha beta gamma delta', '', 'much longer '.repeat(400), 'alpha'];

function theirs(texts: string[]): Record<string, { data: bigint[]; dims: number[] }> {
  const out = tokenizer(texts, { padding: true, truncation: true }) as unknown as Record<string, { data: BigInt64Array; dims: number[] }>;
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { data: Array.from(t.data), dims: t.dims }]));
}

function ours(texts: string[]): Record<string, { data: bigint[]; dims: number[] }> {
  const batch = padBatch(tokenizer, encodeTexts(tokenizer as unknown as BatchTokenizer, texts));
  return Object.fromEntries(Object.entries(batch).map(([k, t]) => [k, { data: Array.from(t.data), dims: [...t.dims] }]));
}

describe('tokens computed once, padded per batch', () => {
  it('equal the tokenizer’s own padded, truncated batch (right padding)', () => {
    expect(ours(TEXTS)).toEqual(theirs(TEXTS));
    expect(Object.keys(ours(TEXTS)).sort()).toEqual(['attention_mask', 'input_ids', 'token_type_ids']);
    // Truncated as the pipeline truncates: the model's 512 positions.
    expect(tokenCount(encodeTexts(tokenizer as unknown as BatchTokenizer, TEXTS)[3] ?? {})).toBe(512);
  });

  it('equal it with left padding too', () => {
    const saved = tokenizer.padding_side;
    tokenizer.padding_side = 'left';
    try {
      expect(ours(TEXTS)).toEqual(theirs(TEXTS));
    } finally {
      tokenizer.padding_side = saved;
    }
  });

  it('refuses to pad without a pad token, and never pads a batch of equal lengths', () => {
    const encodings = encodeTexts(tokenizer as unknown as BatchTokenizer, ['alpha', 'alpha beta gamma']);
    expect(() => padBatch({ pad_token_id: null, padding_side: 'right' }, encodings)).toThrow(/no pad token/);
    const equal = encodeTexts(tokenizer as unknown as BatchTokenizer, ['alpha', 'alpha']);
    expect(padBatch({ pad_token_id: null, padding_side: 'right' }, equal)['input_ids']?.dims).toEqual([2, tokenCount(equal[0] ?? {})]);
  });
});
