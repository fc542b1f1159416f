/**
 * float32 → IEEE 754 binary16 conversion for pgvector's `halfvec` (Node 20 has no Math.f16round
 * nor Float16Array). Rounding is round-to-nearest, ties-to-even, like the F16C instruction and
 * pgvector's portable fallback (Float4ToHalfUnchecked), so a value COPYed in binary is stored
 * exactly as `'[…]'::halfvec` would store the same float32.
 *
 * binary16: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits. Largest finite 65504,
 * smallest normal 2^-14, smallest subnormal 2^-24.
 */

/** Scratch views to read a float32's bits (the sink is single-threaded per process). */
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

export const FLOAT16_MAX = 65504;
/** Exponent bits all set: infinity (fraction 0) or NaN. */
const F16_EXP_MASK = 0x7c00;

/**
 * The binary16 bit pattern nearest to `value`. `value` must be a float32 (as read from a
 * Float32Array): a double with more precision would be rounded twice (to float32, then to
 * float16), which can differ from rounding once. Values of magnitude 65520 and above round to
 * ±infinity (0x7c00 | sign); NaN maps to a quiet NaN. Callers decide whether those are acceptable
 * (pgvector refuses both): see isFiniteFloat16.
 */
export function float32ToFloat16Bits(value: number): number {
  F32[0] = value;
  const bits = U32[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const fraction = bits & 0x7fffff;

  if (exponent === 0xff) return sign | F16_EXP_MASK | (fraction !== 0 ? 0x200 : 0);

  // Exponent re-biased for binary16 (float32 bias 127, binary16 bias 15).
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | F16_EXP_MASK;

  if (e <= 0) {
    // Subnormal (or zero) in binary16: the result counts units of 2^-24. Below 2^-25 (half the
    // smallest subnormal) everything rounds to ±0, float32 subnormals included.
    if (e < -10) return sign;
    // With the implicit leading 1, the value is significand * 2^(exponent - 150); in units of
    // 2^-24 that is significand >> (14 - e), shift 14..24.
    const significand = fraction | 0x800000;
    const shift = 14 - e;
    const truncated = significand >>> shift;
    const remainder = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    // Rounding up from 0x3ff gives 0x400: the smallest normal, which is the right encoding.
    const rounded = remainder > halfway || (remainder === halfway && (truncated & 1) === 1) ? truncated + 1 : truncated;
    return sign | rounded;
  }

  // Normal: keep the top 10 of 23 fraction bits and round on the 13 dropped ones. A carry out of
  // the fraction increments the exponent, and from the largest exponent yields infinity (0x7c00).
  const truncated = (e << 10) | (fraction >>> 13);
  const remainder = fraction & 0x1fff;
  const rounded = remainder > 0x1000 || (remainder === 0x1000 && (truncated & 1) === 1) ? truncated + 1 : truncated;
  return sign | rounded;
}

/** False for the bit patterns of ±infinity and NaN. */
export function isFiniteFloat16(bits: number): boolean {
  return (bits & F16_EXP_MASK) !== F16_EXP_MASK;
}

/** The value of a binary16 bit pattern (exact: every binary16 value is a float32 and a double). */
export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  return sign * (1024 + fraction) * 2 ** (exponent - 25);
}
