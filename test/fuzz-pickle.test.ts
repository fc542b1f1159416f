/**
 * Property-based bad input for vectors.pkl: Python-written pickles truncated, bit-flipped, with
 * bytes inserted, deleted or overwritten, random opcode soups, random bytes, and hand-built
 * hostile pickles (memo and DUP amplification, deep nesting, huge declared lengths, numpy arrays
 * declaring huge shapes, globals outside the allow-list). Each input runs through the real
 * decoder in a worker with a heap limit and a deadline (helpers/fuzzWorker.ts): it must decode
 * to well-formed vectors or fail with a coded MigrateError, in bounded time and memory.
 *
 * Reproduce a failure with the seed fast-check prints: FUZZ_SEED=<seed> npx vitest run test/fuzz-pickle.test.ts
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FuzzWorker, violation, type FuzzOutcome } from './helpers/fuzzWorker.js';
import { byteRuns, mutate, mutations } from './helpers/mutations.js';
import { REPO, SHARED_STORES } from './helpers/paths.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_121);
const DEADLINE_MS = 10_000;
/** Peak RSS growth of this test process allowed while hostile input is decoded (typed arrays live outside the worker's heap limit). */
const RSS_BUDGET_MB = 400;

const FIXTURES = join(REPO, 'fixtures/pickles');
const seedFiles = [
  ...readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.pkl'))
    .map((f) => join(FIXTURES, f)),
  ...['alice_example_com/vector_store_notes', 'bob/vector_store_personal_assistant', 'dave/vector_store_personal_assistant', 'ivan/vector_store_personal_assistant'].map((d) =>
    join(SHARED_STORES, 'user_data', d, 'vectors.pkl'),
  ),
].filter((f) => statSync(f).size <= 200_000);
const seeds = seedFiles.map((f) => readFileSync(f));

let work = '';
let worker: FuzzWorker;
let serial = 0;
let rssStartMb = 0;
const peakRssMb = (): number => process.resourceUsage().maxRSS / 1024;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'fuzz-pickle-'));
  worker = new FuzzWorker({ key: { user: 'fuzz', master: null } });
  rssStartMb = peakRssMb();
});
afterAll(async () => {
  await worker.close();
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

async function decode(bytes: Uint8Array): Promise<FuzzOutcome> {
  const path = join(work, `in-${serial++ % 4}.pkl`);
  writeFileSync(path, bytes);
  return worker.run({ kind: 'pickle', path }, DEADLINE_MS);
}

/** The property every input must satisfy. */
async function holds(bytes: Uint8Array): Promise<void> {
  const why = violation(await decode(bytes));
  if (why !== null) throw new Error(why);
}

// ---- mutations of Python-written pickles -------------------------------------------------------

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
const mutation = mutations({ bytes: byteRuns(INTERESTING, 9), maxFlips: 8, maxDelete: 16, duplicate: true });

// ---- hand-built hostile pickles ------------------------------------------------------------------

const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const u64 = (n: bigint): number[] => Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
const rep = (n: number, bytes: number[]): number[] => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(...bytes);
  return out;
};
const FLOAT_ONE = [0x47, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0];
/** `[1.0] * n` as pickle.dump writes it: EMPTY_LIST, then APPENDS batches of 1000. */
function floatList(n: number): number[] {
  const out = [0x5d];
  for (let done = 0; done < n; done += 1000) out.push(0x28, ...rep(Math.min(1000, n - done), FLOAT_ONE), 0x65);
  return out;
}
const P4 = [0x80, 4];
const STOP = 0x2e;

/** name -> bytes, and whether the decoder may accept it (otherwise it must be refused with a code). */
const HOSTILE: Record<string, { bytes: Uint8Array; accept: boolean }> = {
  // Regression: one APPENDS repeating a memoized 65536-float list 1500 times (600 KB of file)
  // used to convert the whole batch up front, 1500 copies of 512 KB held at once (770 MB; 5 GB
  // with 10,000 repetitions).
  'memo amplification into the top-level list': {
    bytes: Uint8Array.from([...P4, 0x5d, 0x28, ...floatList(65_536), 0x94, ...rep(1499, [0x68, 0]), 0x65, STOP]),
    accept: true,
  },
  'DUP amplification into the top-level list': {
    bytes: Uint8Array.from([...P4, 0x5d, 0x28, ...floatList(65_536), ...rep(1499, [0x32]), 0x65, STOP]),
    accept: true,
  },
  // Billion laughs: each level is a tuple of 1000 references to the level below.
  'memo bomb (tuples of tuples of a 1000-float list)': {
    bytes: Uint8Array.from([
      ...P4,
      0x5d,
      ...floatList(1000),
      0x94,
      ...Array.from({ length: 12 }, (_, level) => [0x28, ...rep(1000, [0x6a, ...u32(level)]), 0x74, 0x94]).flat(),
      0x61,
      STOP,
    ]),
    accept: false,
  },
  'memo bomb (lists of lists)': {
    bytes: Uint8Array.from([
      ...P4,
      0x5d,
      ...floatList(1000),
      0x94,
      ...Array.from({ length: 12 }, (_, level) => [0x5d, 0x28, ...rep(1000, [0x6a, ...u32(level)]), 0x65, 0x94]).flat(),
      0x85,
      0x61,
      STOP,
    ]),
    accept: false,
  },
  '200,000 MARKs': { bytes: Uint8Array.from([...P4, ...rep(200_000, [0x28]), STOP]), accept: false },
  '100,000 nested lists (MARK ... LIST)': { bytes: Uint8Array.from([...P4, ...rep(100_000, [0x28]), 0x5d, ...rep(100_000, [0x6c]), STOP]), accept: false },
  '100,000 nested lists (EMPTY_LIST APPEND)': { bytes: Uint8Array.from([...P4, ...rep(100_000, [0x5d]), ...rep(99_999, [0x61]), STOP]), accept: false },
  '100,000 nested tuples (MARK ... TUPLE)': { bytes: Uint8Array.from([...P4, ...rep(100_000, [0x28]), 0x29, ...rep(100_000, [0x74]), STOP]), accept: false },
  '100,000 nested dicts': { bytes: Uint8Array.from([...P4, 0x7d, ...rep(100_000, [0x4b, 1, 0x7d]), ...rep(100_000, [0x73]), STOP]), accept: false },
  'BINUNICODE8 declaring 2^62 bytes': { bytes: Uint8Array.from([...P4, 0x8d, ...u64(1n << 62n), 0x61, 0x62, STOP]), accept: false },
  'BINUNICODE8 declaring 2^64-1 bytes': { bytes: Uint8Array.from([...P4, 0x8d, ...u64((1n << 64n) - 1n), 0x61, STOP]), accept: false },
  'BINBYTES8 declaring 2^53+1 bytes': { bytes: Uint8Array.from([...P4, 0x8e, ...u64((1n << 53n) + 1n), STOP]), accept: false },
  'BYTEARRAY8 declaring 2^40 bytes': { bytes: Uint8Array.from([0x80, 5, 0x96, ...u64(1n << 40n), STOP]), accept: false },
  'BINUNICODE declaring 4 GB': { bytes: Uint8Array.from([...P4, 0x58, ...u32(0xffffffff), 0x61, STOP]), accept: false },
  'BINBYTES declaring 4 GB': { bytes: Uint8Array.from([...P4, 0x42, ...u32(0xffffffff), STOP]), accept: false },
  'BINSTRING declaring a negative length': { bytes: Uint8Array.from([0x80, 2, 0x54, ...u32(0x80000000), STOP]), accept: false },
  'LONG4 declaring 4 GB': { bytes: Uint8Array.from([...P4, 0x8b, ...u32(0xffffffff), 1, STOP]), accept: false },
  'LONG4 declaring a negative length': { bytes: Uint8Array.from([...P4, 0x8b, ...u32(0x80000000), STOP]), accept: false },
  'LONG4 of 1 MB (a huge integer)': { bytes: Uint8Array.from([...P4, 0x5d, 0x8b, ...u32(1 << 20), ...new Array<number>(1 << 20).fill(0xff), 0x61, STOP]), accept: false },
  'FRAME declaring 2^63 bytes': { bytes: Uint8Array.from([...P4, 0x95, ...u64(1n << 63n), 0x5d, STOP]), accept: false },
  'LONG text line of 10 MB': { bytes: Uint8Array.from([0x80, 2, 0x4c, ...new Array<number>(10 << 20).fill(0x39), 0x0a, STOP]), accept: false },
  'STRING line without a newline (2 MB)': { bytes: Uint8Array.from([0x53, 0x27, ...new Array<number>(2 << 20).fill(0x61), STOP]), accept: false },
  'memo index 2^31 via LONG_BINPUT, then GET': { bytes: Uint8Array.from([...P4, 0x5d, 0x72, ...u32(0x7fffffff), 0x6a, ...u32(0x7fffffff), 0x61, STOP]), accept: false },
  '150,000 out-of-order memo slots': {
    bytes: Uint8Array.from([...P4, 0x5d, ...Array.from({ length: 150_000 }, (_, i) => [0x72, ...u32(2 * i + 7)]).flat(), STOP]),
    accept: false,
  },
  'INT text line of 100 digits': { bytes: Uint8Array.from([0x28, 0x49, ...new Array<number>(100).fill(0x39), 0x0a, 0x6c, STOP]), accept: false },
};

// ---- numpy arrays declaring huge shapes, and unknown globals, pickled by Python --------------------

/** Hostile pickles written by Python's pickle (the module and name strings are real references). */
function pythonHostile(dir: string): Record<string, string> {
  const script = String.raw`
import os, sys, pickle, json, subprocess, builtins, numpy as np
try:
    from numpy._core.multiarray import _reconstruct
except ImportError:
    from numpy.core.multiarray import _reconstruct
out = sys.argv[1]
pwned = sys.argv[2]

class Arr:
    """Reduces like an ndarray, with whatever state we want."""
    def __init__(self, shape, dtype='f4', data=b'\0' * 16, fortran=False):
        self.state = (1, shape, np.dtype(dtype), fortran, data)
    def __reduce__(self):
        return (_reconstruct, (np.ndarray, (0,), b'b'), self.state)

class Call:
    def __init__(self, fn, *args): self.fn, self.args = fn, args
    def __reduce__(self): return (self.fn, self.args)

cases = {
    'matrix declaring 2^31 x 2^31': Arr((2**31, 2**31)),
    'matrix declaring 2^62 x 1 rows': Arr((2**62, 1)),
    'matrix declaring 10^30 rows (a long)': Arr((10**30, 4)),
    'matrix with a negative dimension': Arr((-1, 4)),
    'matrix with 2^31 columns, 0 rows': Arr((0, 2**31)),
    'matrix declaring 2^20 x 2^20, 1 MB of data': Arr((2**20, 2**20), data=b'\0' * (1 << 20)),
    'matrix declaring 2^16 x 2^16, 2 MB of data': Arr((2**16, 2**16), 'f8', data=b'\0' * (2 << 20)),
    'fortran matrix declaring 2^40 x 4': Arr((2**40, 4), fortran=True),
    'vector declaring 2^62 values': [Arr((2**62,))],
    'vector declaring 2^31 values': [Arr((2**31,), 'f8')],
    '3-D array declaring 2^20 ^ 3': Arr((2**20, 2**20, 2**20)),
    'shape of 1000 dimensions': Arr((1,) * 1000),
    'shape that is not a tuple': Arr('abc'),
    'data that is a list': Arr((1, 4), data=[1.0, 2.0]),
    'os.system': [Call(os.system, 'touch ' + pwned)],
    'posix.system via a matrix state': Arr((1, 1), data=Call(os.system, 'touch ' + pwned)),
    'builtins.eval': [Call(builtins.eval, '__import__("os").system("touch ' + pwned + '")')],
    'builtins.exec': Call(builtins.exec, 'open("' + pwned + '", "w")'),
    'subprocess.Popen': Call(subprocess.Popen, ['touch', pwned]),
    'pickle.loads of an inner pickle': Call(pickle.loads, pickle.dumps(Call(os.system, 'touch ' + pwned))),
    'numpy.load': Call(np.load, pwned),
    'numpy.frombuffer': [Call(np.frombuffer, b'\0' * 16, 'f4')],
    'getattr gadget': Call(getattr, Call(builtins.__import__, 'os'), 'system'),
}
names = {}
for i, (name, obj) in enumerate(cases.items()):
    for proto in (2, 4, 5):
        path = os.path.join(out, f'{i}-p{proto}.pkl')
        with open(path, 'wb') as f:
            pickle.dump(obj, f, protocol=proto)
        names[path] = f'{name} (protocol {proto})'
print(json.dumps(names))
`;
  return JSON.parse(execFileSync('python3', ['-c', script, dir, join(dir, 'PWNED')], { encoding: 'utf8' })) as Record<string, string>;
}

describe('hostile pickles: refused (or decoded) in bounded time and memory, never a crash', () => {
  for (const [name, { bytes, accept }] of Object.entries(HOSTILE)) {
    it(name, async () => {
      const outcome = await decode(bytes);
      expect(violation(outcome)).toBeNull();
      if (!accept) expect(outcome.ok).toBe(false);
      expect(peakRssMb() - rssStartMb).toBeLessThan(RSS_BUDGET_MB);
    });
  }

  it('numpy arrays declaring huge shapes and globals outside the allow-list, written by Python', async () => {
    const dir = mkdtempSync(join(work, 'py-'));
    const cases = pythonHostile(dir);
    expect(Object.keys(cases).length).toBeGreaterThan(60);
    const failures: string[] = [];
    for (const [path, name] of Object.entries(cases)) {
      const outcome = await worker.run({ kind: 'pickle', path }, DEADLINE_MS);
      const why = violation(outcome) ?? (outcome.ok ? 'accepted' : null);
      if (why !== null) failures.push(`${name}: ${why}`);
      if (/system|eval|exec|Popen|loads|load|getattr/.test(name) && !outcome.ok) {
        if (outcome.chain[0]?.code !== 'E_UNSAFE_PICKLE') failures.push(`${name}: ${outcome.chain[0]?.code} instead of E_UNSAFE_PICKLE`);
      }
    }
    expect(failures).toEqual([]);
    expect(existsSync(join(dir, 'PWNED'))).toBe(false);
    expect(peakRssMb() - rssStartMb).toBeLessThan(RSS_BUDGET_MB);
  });
});

describe('fuzzed pickles (fast-check)', () => {
  it('has Python-written seeds to mutate', () => {
    expect(seeds.length).toBeGreaterThan(50);
  });

  it('every truncation of a Python-written pickle of each protocol is refused with a code', async () => {
    const names = ['list-of-lists-p2.pkl', 'list-of-arrays-f4-p4.pkl', 'matrix-f4-p5.pkl', 'matrix-f4-fortran-p2.pkl', 'shared-list-p4.pkl'];
    for (const name of names) {
      const whole = readFileSync(join(FIXTURES, name));
      for (let cut = 0; cut < whole.length; cut++) {
        const outcome = await decode(whole.subarray(0, cut));
        expect(violation(outcome), `${name} cut at ${cut}`).toBeNull();
        expect(outcome.ok, `${name} cut at ${cut} was accepted`).toBe(false);
      }
    }
  });

  it('mutated Python-written pickles: decoded well-formed or refused with a code', async () => {
    const arb = fc.tuple(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 }));
    await fc.assert(
      fc.asyncProperty(arb, async ([which, mutations]) => {
        let bytes: Uint8Array = seeds[which] ?? new Uint8Array();
        for (const m of mutations) if (bytes.length > 0) bytes = mutate(bytes, m);
        await holds(bytes);
      }),
      { seed: SEED, numRuns: 1500 },
    );
    expect(peakRssMb() - rssStartMb).toBeLessThan(RSS_BUDGET_MB);
  });

  it('random opcode soups with random arguments', async () => {
    const opcodes = [
      0x28, 0x2e, 0x30, 0x31, 0x32, 0x46, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x52, 0x53, 0x54, 0x55, 0x56, 0x58, 0x61, 0x62, 0x63, 0x64, 0x65, 0x67, 0x68,
      0x6a, 0x6c, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x7d, 0x5d, 0x29, 0x47, 0x42, 0x43, 0x80, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e,
      0x93, 0x94, 0x95, 0x96,
    ];
    const step = fc.tuple(fc.constantFrom(...opcodes), fc.uint8Array({ maxLength: 9 }));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0, 2, 4, 5), fc.array(step, { maxLength: 60 }), async (proto, steps) => {
        const body = steps.flatMap(([op, args]) => [op, ...args]);
        await holds(Uint8Array.from([...(proto === 0 ? [] : [0x80, proto]), ...body, STOP]));
      }),
      { seed: SEED + 1, numRuns: 1500 },
    );
  });

  it('random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => holds(bytes)),
      { seed: SEED + 2, numRuns: 300 },
    );
  });
});
