/**
 * Byte-level damage for the fuzz tests: a Mutation says what to do to a file, `mutate` does it.
 * Each test keeps its own arbitrary (its bytes, its limits, its order of operations): fast-check
 * draws by position, so a seed still names the same inputs it named before this helper existed.
 */
import fc from 'fast-check';

export type Mutation =
  | { op: 'truncate'; at: number }
  | { op: 'flip'; flips: { at: number; bit: number }[] }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; n: number }
  | { op: 'overwrite'; at: number; bytes: Uint8Array }
  | { op: 'duplicate'; at: number; n: number; to: number };

/** Runs of 1 to `maxLength` bytes, each one of `interesting` (boundary values, a format's punctuation) or any byte. */
export function byteRuns(interesting: readonly number[], maxLength: number): fc.Arbitrary<Uint8Array> {
  return fc.array(fc.oneof(fc.constantFrom(...interesting), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength }).map((a) => Uint8Array.from(a));
}

export interface MutationLimits {
  bytes: fc.Arbitrary<Uint8Array>;
  maxFlips: number;
  maxDelete: number;
  /** Also copy a run of up to 64 bytes elsewhere in the file. */
  duplicate?: boolean;
}

/** truncate, flip, insert, delete, overwrite (then duplicate), in this order. */
export function mutations(limits: MutationLimits): fc.Arbitrary<Mutation> {
  const ops: fc.Arbitrary<Mutation>[] = [
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('flip' as const), flips: fc.array(fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: limits.maxFlips }) }),
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: limits.bytes }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: limits.maxDelete }) }),
    fc.record({ op: fc.constant('overwrite' as const), at: fc.nat(), bytes: limits.bytes }),
  ];
  if (limits.duplicate === true) ops.push(fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }), to: fc.nat() }));
  return fc.oneof(...ops);
}

/** A damaged copy of `input` (never `input` itself); positions wrap around the length. */
export function mutate(input: Uint8Array, m: Mutation): Buffer {
  // An empty input stays empty under truncate, flip and overwrite (no modulo by zero).
  const len = Math.max(input.length, 1);
  const b = Buffer.from(input);
  switch (m.op) {
    case 'truncate':
      return b.subarray(0, m.at % len);
    case 'flip':
      for (const f of m.flips) if (b.length > 0) b[f.at % len] = (b[f.at % len] ?? 0) ^ (1 << f.bit);
      return b;
    case 'insert':
      return Buffer.concat([b.subarray(0, m.at % (len + 1)), m.bytes, b.subarray(m.at % (len + 1))]);
    case 'delete':
      return Buffer.concat([b.subarray(0, m.at % len), b.subarray((m.at % len) + m.n)]);
    case 'overwrite':
      b.set(m.bytes.subarray(0, Math.max(0, b.length - (m.at % len))), m.at % len);
      return b;
    case 'duplicate': {
      const from = m.at % len;
      const to = m.to % (len + 1);
      return Buffer.concat([b.subarray(0, to), b.subarray(from, from + m.n), b.subarray(to)]);
    }
  }
}
