/**
 * Tokens computed once per text and padded per batch (src/transform/tokens.ts) must be exactly
 * what the tokenizer itself gives for the batch with `padding: true, truncation: true`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../src/transform/random.js';
import { closingTokens, encodeTexts, keepClosingTokens, padBatch, tokenCount, type BatchTokenizer } from '../src/transform/tokens.js';

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
  const batch = padBatch(tokenizer, encodeTexts(tokenizer as unknown as BatchTokenizer, texts, 512));
  return Object.fromEntries(Object.entries(batch).map(([k, t]) => [k, { data: Array.from(t.data), dims: [...t.dims] }]));
}

describe('tokens computed once, padded per batch', () => {
  it('equal the tokenizer’s own padded, truncated batch (right padding)', () => {
    expect(ours(TEXTS)).toEqual(theirs(TEXTS));
    expect(Object.keys(ours(TEXTS)).sort()).toEqual(['attention_mask', 'input_ids', 'token_type_ids']);
    // Truncated as the pipeline truncates: the model's 512 positions.
    expect(tokenCount(encodeTexts(tokenizer as unknown as BatchTokenizer, TEXTS, 512)[3] ?? {})).toBe(512);
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
    const encodings = encodeTexts(tokenizer as unknown as BatchTokenizer, ['alpha', 'alpha beta gamma'], 512);
    expect(() => padBatch({ pad_token_id: null, padding_side: 'right' }, encodings)).toThrow(/no pad token/);
    const equal = encodeTexts(tokenizer as unknown as BatchTokenizer, ['alpha', 'alpha'], 512);
    expect(padBatch({ pad_token_id: null, padding_side: 'right' }, equal)['input_ids']?.dims).toEqual([2, tokenCount(equal[0] ?? {})]);
  });
});

describe('a long text is tokenized only as far as the window reaches', () => {
  /** The whole text tokenized and truncated by the tokenizer itself: what the model saw before. */
  function whole(text: string, window = 512): Record<string, number[]> {
    const out = tokenizer([text], { padding: false, truncation: true, max_length: window, return_tensor: false }) as unknown as Record<string, number[][]>;
    return Object.fromEntries(Object.entries(out).map(([k, rows]) => [k, rows[0] as number[]]));
  }

  /** The tokenizer, recording the longest text it is handed. */
  function watched(): { tokenizer: BatchTokenizer; longest: () => number } {
    let longest = 0;
    const call = (texts: string[], options: Parameters<BatchTokenizer>[1]): unknown => {
      for (const t of texts) longest = Math.max(longest, t.length);
      return tokenizer(texts, options);
    };
    return { tokenizer: Object.assign(call, { pad_token_id: tokenizer.pad_token_id, padding_side: tokenizer.padding_side }), longest: () => longest };
  }

  function untruncatedCount(text: string): number {
    return (tokenizer(text, { truncation: false, return_tensor: false }) as unknown as { input_ids: number[] }).input_ids.length;
  }

  const repeat = (piece: string, times: number): string => Array.from({ length: times }, () => piece).join('');

  const cases: Record<string, string> = {
    'long words (each one [UNK])': repeat(`${'x'.repeat(150)} word `, 2000),
    'long words without any whitespace after the first prefix': `intro ${'y'.repeat(60_000)} ${repeat('tail words ', 10_000)}`,
    'whitespace runs': Array.from({ length: 900 }, (_, i) => `word${i % 7} ${' \t\n'.repeat(i % 40)}`).join(''),
    'a whitespace run longer than the first prefixes': `${' '.repeat(50_000)}${repeat('alpha beta ', 20_000)}`,
    'CJK without spaces': repeat('漢字中文測試語言', 4000),
    'emoji, with and without spaces': repeat('🚀 party🎉 🇩🇪x ', 3000),
    'emoji in one long word': `go ${repeat('🚀', 20_000)} stop`,
    'combining marks': repeat('cafe\u0301 nai\u0308ve A\u030a ', 3000),
    'a long run of combining marks': `e${'\u0301'.repeat(40_000)} ${repeat('the end ', 10_000)}`,
    'lowercasing that lengthens the text (İ)': repeat('İSTANBUL İİİ ', 3000),
    'punctuation': repeat('a.b,c!?;:() ', 3000),
    'control characters and zero-width marks': repeat('zero\u200bwidth\u0000null \u0007bell ', 2000),
  };

  it.each(Object.entries(cases))('gives the whole text’s truncated tokens for %s', (_, text) => {
    expect(text.length).toBeGreaterThan(512 * 32); // long enough to be cut before tokenizing
    const [ours] = encodeTexts(tokenizer as unknown as BatchTokenizer, [text], 512);
    expect(ours).toEqual(whole(text));
  });

  it('gives the whole text’s tokens for texts exactly at, just under and just over the window', () => {
    // 'the' is one token; runs of spaces make the text long without adding tokens.
    expect(untruncatedCount('the')).toBe(3);
    for (const tokens of [510, 511, 512, 513, 514]) {
      const text = Array.from({ length: tokens - 2 }, () => 'the').join(' '.repeat(40));
      expect(text.length).toBeGreaterThan(512 * 32);
      expect(untruncatedCount(text)).toBe(tokens);
      const [ours] = encodeTexts(tokenizer as unknown as BatchTokenizer, [text], 512);
      expect(ours).toEqual(whole(text));
      expect(tokenCount(ours ?? {})).toBe(Math.min(tokens, 512));
    }
  });

  it('gives the whole text’s tokens on seeded random mixtures of all of the above, at several windows', () => {
    const pieces = ['the ', 'Alpha ', ' '.repeat(37), '\n\n', 'x'.repeat(130), '漢字', '🚀', 'e\u0301', 'İ', '.', 'naïve ', 'ﬁ ', '\u200b'];
    const random = seededRandom(18);
    for (let n = 0; n < 30; n++) {
      const window = [16, 128, 512][n % 3] as number;
      const parts: string[] = [];
      let length = 0;
      const target = window * 32 + Math.floor(random() * window * 200);
      while (length < target) {
        const piece = pieces[Math.floor(random() * pieces.length)] as string;
        const times = 1 + Math.floor(random() * 20);
        parts.push(piece.repeat(times));
        length += piece.length * times;
      }
      const text = parts.join('');
      const [ours] = encodeTexts(tokenizer as unknown as BatchTokenizer, [text], window);
      expect(ours, `text ${n} (window ${window})`).toEqual(whole(text, window));
    }
  });

  it('never hands the tokenizer much more than the window needs, whatever the text’s length', () => {
    const text = repeat('the quick brown fox jumps over the lazy dog ', 8_000); // 352,000 characters
    const { tokenizer: spy, longest } = watched();
    const [ours] = encodeTexts(spy, [text, 'a short one'], 512);
    expect(ours).toEqual(whole(text));
    expect(longest()).toBeLessThan(40_000);
    // A smaller window (max_seq_length) needs a shorter prefix still.
    const small = watched();
    const [truncated] = encodeTexts(small.tokenizer, [text], 128);
    expect(truncated).toEqual(whole(text, 128));
    expect(small.longest()).toBeLessThan(10_000);
  });

  it('still tokenizes short texts in one call, whole', () => {
    const { tokenizer: spy, longest } = watched();
    const text = 'the '.repeat(4000); // 16,000 characters, past the window but under the cut-off
    expect(encodeTexts(spy, [text], 512)).toEqual([whole(text)]);
    expect(longest()).toBe(text.length);
  });
});

describe('truncation keeping the closing special tokens (as Python’s tokenizers truncate)', () => {
  const bert = (): BatchTokenizer => tokenizer as unknown as BatchTokenizer;

  it('finds [SEP] as what BERT puts after a text', () => {
    expect(closingTokens(bert())).toEqual({ input_ids: [3], attention_mask: [1], token_type_ids: [0] });
  });

  it('ends a cut text with [SEP] in place of its last token, and leaves a text that fits alone', () => {
    const closing = closingTokens(bert());
    const words = (n: number): string => Array.from({ length: n }, () => 'the').join(' '); // 'the' is one token
    const [cut] = encodeTexts(bert(), [words(30)], 16);
    const [fits] = encodeTexts(bert(), [words(14)], 16);
    expect(cut?.['input_ids']?.at(-1)).not.toBe(3); // transformers.js drops [SEP]
    expect(keepClosingTokens(cut ?? {}, closing)).toEqual(fits); // Python keeps it: [CLS] + 14 words + [SEP]
    expect(keepClosingTokens(fits ?? {}, closing)).toEqual(fits);
    const [short] = encodeTexts(bert(), ['the'], 16);
    expect(keepClosingTokens(short ?? {}, closing)).toEqual(short);
  });
});
