import { describe, expect, it } from 'vitest';
import { meanPoolNormalized } from '../src/transform/pooling.js';

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
