import { describe, expect, it } from 'vitest';
import { meanPoolNormalized, normalizeInPlace, pool } from '../src/transform/pooling.js';

describe('meanPoolNormalized', () => {
  it('averages only the tokens the mask keeps, then scales each row to unit length', () => {
    // 2 rows x 3 tokens x 2 dims; row 0 keeps tokens 0-1, row 1 keeps all three.
    const hidden = Float32Array.from([3, 0, 1, 4, 100, 100, 0, 2, 0, 2, 0, 2]);
    const [a, b] = meanPoolNormalized(hidden, [2, 3, 2], [1n, 1n, 0n, 1n, 1n, 1n]);
    expect(Array.from(a as Float32Array)).toEqual([Math.fround(2 / Math.hypot(2, 2)), Math.fround(2 / Math.hypot(2, 2))]);
    expect(Array.from(b as Float32Array)).toEqual([0, 1]);
  });

  it('refuses shapes that do not fit', () => {
    expect(() => meanPoolNormalized(new Float32Array(6), [1, 3, 3], [1, 1, 1])).toThrow(RangeError);
    expect(() => meanPoolNormalized(new Float32Array(6), [1, 3, 2], [1, 1])).toThrow(RangeError);
  });
});

describe('pool (sentence-transformers pooling modes)', () => {
  // 2 rows x 3 tokens x 2 dims; row 0 keeps tokens 0-1 (token 2 is padding), row 1 keeps all three.
  const hidden = Float32Array.from([3, 0, 1, 4, 100, 100, -1, 2, 0, -5, 7, 2]);
  const mask = [1n, 1n, 0n, 1n, 1n, 1n];

  it('mean averages the kept tokens, without normalizing', () => {
    expect(pool('mean', hidden, [2, 3, 2], mask).map((r) => Array.from(r))).toEqual([[2, 2], [2, -1 / 3].map(Math.fround)]);
  });

  it('cls takes the first token of each row', () => {
    expect(pool('cls', hidden, [2, 3, 2], mask).map((r) => Array.from(r))).toEqual([[3, 0], [-1, 2]]);
  });

  it('max takes the element-wise maximum over the kept tokens only', () => {
    expect(pool('max', hidden, [2, 3, 2], mask).map((r) => Array.from(r))).toEqual([[3, 4], [7, 2]]);
  });

  it('normalizes exactly as meanPoolNormalized does', () => {
    expect(pool('mean', hidden, [2, 3, 2], mask).map(normalizeInPlace)).toEqual(meanPoolNormalized(hidden, [2, 3, 2], mask));
  });
});
