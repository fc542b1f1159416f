/**
 * Bad input for the LangChain FAISS reader: the real stores and the Python-written fixtures with
 * index.faiss or index.pkl truncated, bit-flipped, with bytes inserted, deleted or overwritten,
 * plus hand-built hostile opcodes spliced into a Python-written docstore pickle (deep nesting,
 * huge declared lengths, stack and memo abuse). Each store runs through the real reader (from
 * dist/) in a worker with a heap limit and a deadline (helpers/fuzzWorker.ts): it must read
 * well-formed records or fail with a coded MigrateError, in bounded time and memory.
 *
 * Reproduce a failure with the seed fast-check prints: FUZZ_SEED=<seed> npx vitest run test/fuzz-faiss.test.ts
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FuzzWorker, violation, type FuzzOutcome } from './helpers/fuzzWorker.js';
import { byteRuns, mutate, mutations } from './helpers/mutations.js';
import { REPO, SHARED_TESTDATA } from './helpers/paths.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_202);
const DEADLINE_MS = 15_000;
const FIXTURES = join(REPO, 'fixtures/faiss');
const REAL = join(SHARED_TESTDATA, 'real-stores/faiss');

const SEED_STORES = [
  join(REAL, '007kakashi__FAQ_llm/faiss_index'),
  join(REAL, 'AIAnytime__Multimodal-RAG-using-Langchain/faiss_index'),
  join(REAL, 'KaeyoungLIAN__QA-Agent/faiss_store'),
  ...['flat-ip.pdf', 'protocol-2', 'protocol-3', 'protocol-5', 'empty', 'splice-base'].map((name) => join(FIXTURES, name)),
];
type FileName = 'index.faiss' | 'index.pkl';
const seeds = SEED_STORES.map((dir) => ({ dir, faiss: readFileSync(join(dir, 'index.faiss')), pkl: readFileSync(join(dir, 'index.pkl')) }));

let work = '';
let worker: FuzzWorker;
let serial = 0;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'fuzz-faiss-'));
  worker = new FuzzWorker({ key: { user: 'fuzz', master: null } });
});
afterAll(async () => {
  await worker.close();
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

/** A copy of a seed store (in a directory named like LangChain users name them) with one file replaced. */
async function read(seed: number, file: FileName, bytes: Uint8Array): Promise<FuzzOutcome> {
  const dir = join(work, `s${serial++ % 4}`, 'abc.pdf');
  const from = seeds[seed];
  if (from === undefined) throw new Error(`no seed ${seed}`);
  rmSync(dir, { recursive: true, force: true });
  cpSync(from.dir, dir, { recursive: true });
  writeFileSync(join(dir, file), bytes);
  return worker.run({ kind: 'format', format: 'faiss', dir }, DEADLINE_MS);
}

async function holds(seed: number, file: FileName, bytes: Uint8Array): Promise<void> {
  const why = violation(await read(seed, file, bytes));
  if (why !== null) throw new Error(why);
}

const mutation = mutations({ bytes: byteRuns([0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff], 9), maxFlips: 8, maxDelete: 16 });

// ---- hostile opcodes in place of the str 'PLACEHOLDER' of a Python-written docstore -------------

const rep = (n: number, bytes: number[]): number[] => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(...bytes);
  return out;
};
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const u64 = (n: bigint): number[] => Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
/** `] ( <inner> DUP x 999 e`: a list of 1000 references to what `inner` builds, without the memo. */
function dupBomb(levels: number): number[] {
  let inner = [0x4e];
  for (let i = 0; i < levels; i++) inner = [0x5d, 0x28, ...inner, ...rep(999, [0x32]), 0x65];
  return inner;
}
const SPLICE = seeds.findIndex((s) => s.dir.endsWith('splice-base'));
const PLACEHOLDER = Buffer.from([0x8c, 11, ...Buffer.from('PLACEHOLDER')]);

/** The splice-base pickle with `value` (opcodes leaving one object, using no memo) for the placeholder. */
function spliced(value: number[]): Uint8Array {
  const base = seeds[SPLICE]?.pkl ?? Buffer.alloc(0);
  const at = base.indexOf(PLACEHOLDER);
  if (at < 0) throw new Error('splice-base has no placeholder');
  const out = Buffer.concat([base.subarray(0, at), Uint8Array.from(value), base.subarray(at + PLACEHOLDER.length)]);
  // Python wrote the small pickle as one FRAME (at offset 2): keep its length right.
  if (out[2] !== 0x95) throw new Error('splice-base does not start with a FRAME');
  out.writeBigUInt64LE(out.readBigUInt64LE(3) + BigInt(value.length - PLACEHOLDER.length), 3);
  return out;
}

const HOSTILE: Record<string, number[]> = {
  '100,000 nested lists (EMPTY_LIST APPEND)': [...rep(100_000, [0x5d]), ...rep(99_999, [0x61])],
  '100,000 nested tuples as a dict key': [0x7d, 0x29, ...rep(100_000, [0x85]), 0x4b, 1, 0x73],
  '100,000 nested dicts': [0x7d, ...rep(100_000, [0x4b, 1, 0x7d]), ...rep(100_000, [0x73])],
  '100,000 nested sets of tuples': [0x8f, 0x28, 0x29, ...rep(100_000, [0x85]), 0x90],
  'a list that contains itself through DUP': [0x5d, 0x32, 0x61],
  '200,000 MARKs': rep(200_000, [0x28]),
  '1,000,000 DUPs': [0x4e, ...rep(1_000_000, [0x32]), ...rep(1_000_000, [0x30])],
  'lists of 1000 DUPed references, 3 levels (10^9 values once expanded)': dupBomb(3),
  'BINUNICODE8 declaring 2^62 bytes': [0x8d, ...u64(1n << 62n), 0x61],
  'BINBYTES8 declaring 2^64-1 bytes': [0x8e, ...u64((1n << 64n) - 1n)],
  'BINUNICODE declaring 4 GB': [0x58, ...u32(0xffffffff)],
  'LONG4 declaring 4 GB': [0x8b, ...u32(0xffffffff)],
  'LONG4 of 1 MB': [0x8b, ...u32(1 << 20), ...new Array<number>(1 << 20).fill(0xff)],
  'FRAME declaring 2^63 bytes': [0x95, ...u64(1n << 63n), 0x4e],
  'a GET of a slot never written': [0x6a, ...u32(0x7fffffff)],
  'a str that is not UTF-8': [0x8c, 2, 0xc3, 0x28],
  'GLOBAL naming os.system': [0x63, ...Buffer.from('os\nsystem\n'), 0x4e, 0x85, 0x52],
  'STACK_GLOBAL naming subprocess.Popen': [0x8c, 10, ...Buffer.from('subprocess'), 0x8c, 5, ...Buffer.from('Popen'), 0x93],
  'a persistent id': [0x4e, 0x51],
  'an extension code': [0x82, 1],
  'INST of builtins.eval (protocol 0)': [0x28, 0x69, ...Buffer.from('builtins\neval\n')],
  'NEWOBJ of a Document with arguments': [0x8c, 29, ...Buffer.from('langchain_core.documents.base'), 0x8c, 8, ...Buffer.from('Document'), 0x93, 0x4b, 1, 0x85, 0x81],
  'REDUCE on an allowed class': [0x8c, 29, ...Buffer.from('langchain_core.documents.base'), 0x8c, 8, ...Buffer.from('Document'), 0x93, 0x29, 0x52],
  'a set built from a dict': [0x63, ...Buffer.from('builtins\nset\n'), 0x7d, 0x85, 0x52],
};

describe('hostile opcodes inside a docstore: refused in bounded time and memory, never a crash', () => {
  it('the splice base itself is read', async () => {
    const outcome = await read(SPLICE, 'index.pkl', spliced([...PLACEHOLDER]));
    expect(outcome).toMatchObject({ ok: true, summary: { counts: { '': 1 } } });
  });

  for (const [name, value] of Object.entries(HOSTILE)) {
    it(name, async () => {
      const outcome = await read(SPLICE, 'index.pkl', spliced(value));
      expect(violation(outcome)).toBeNull();
      expect(outcome.ok).toBe(false);
      if (/system|Popen|persistent|extension|eval/.test(name) && !outcome.ok) expect(outcome.chain[0]?.code).toBe('E_UNSAFE_PICKLE');
    });
  }
});

describe('truncated and mutated FAISS stores (fast-check)', () => {
  it('every truncation of a small Python-written index.pkl, and of every index.faiss header, is refused with a code', async () => {
    const small = seeds.findIndex((s) => s.dir.endsWith('protocol-2'));
    const pkl = seeds[small]?.pkl ?? Buffer.alloc(0);
    for (let cut = 0; cut < pkl.length; cut++) {
      const outcome = await read(small, 'index.pkl', pkl.subarray(0, cut));
      expect(violation(outcome), `index.pkl cut at ${cut}`).toBeNull();
      expect(outcome.ok, `index.pkl cut at ${cut} was accepted`).toBe(false);
    }
    for (const [seed, { faiss }] of seeds.entries()) {
      const cuts = [...Array.from({ length: 50 }, (_, i) => i), faiss.length - 1, faiss.length - 4, Math.floor(faiss.length / 2)];
      for (const cut of cuts.filter((c) => c >= 0 && c < faiss.length)) {
        const outcome = await read(seed, 'index.faiss', faiss.subarray(0, cut));
        expect(violation(outcome), `${seeds[seed]?.dir} index.faiss cut at ${cut}`).toBeNull();
        expect(outcome.ok, `${seeds[seed]?.dir} index.faiss cut at ${cut} was accepted`).toBe(false);
      }
    }
  });

  it('truncations of the real index.pkl files are refused with a code', async () => {
    for (const seed of [0, 1, 2]) {
      const pkl = seeds[seed]?.pkl ?? Buffer.alloc(0);
      const cuts = fc.sample(fc.integer({ min: 0, max: pkl.length - 1 }), { seed: SEED + seed, numRuns: 60 });
      for (const cut of cuts) {
        const outcome = await read(seed, 'index.pkl', pkl.subarray(0, cut));
        expect(violation(outcome), `${seeds[seed]?.dir} index.pkl cut at ${cut}`).toBeNull();
        expect(outcome.ok, `${seeds[seed]?.dir} index.pkl cut at ${cut} was accepted`).toBe(false);
      }
    }
  });

  it('mutated index.pkl files: read well-formed or refused with a code', async () => {
    const arb = fc.tuple(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 }));
    await fc.assert(
      fc.asyncProperty(arb, async ([which, mutations]) => {
        let bytes: Uint8Array = seeds[which]?.pkl ?? new Uint8Array();
        for (const m of mutations) if (bytes.length > 0) bytes = mutate(bytes, m);
        await holds(which, 'index.pkl', bytes);
      }),
      { seed: SEED, numRuns: 600 },
    );
  });

  it('mutated index.faiss files: read well-formed or refused with a code', async () => {
    // Flips in the header are what matter; flips among the floats only change values (or make them non-finite).
    const headerFlip = fc.record({ op: fc.constant('flip' as const), flips: fc.array(fc.record({ at: fc.integer({ min: 0, max: 48 }), bit: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: 4 }) });
    const arb = fc.tuple(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(fc.oneof(mutation, headerFlip), { minLength: 1, maxLength: 3 }));
    await fc.assert(
      fc.asyncProperty(arb, async ([which, mutations]) => {
        let bytes: Uint8Array = seeds[which]?.faiss ?? new Uint8Array();
        for (const m of mutations) if (bytes.length > 0) bytes = mutate(bytes, m);
        await holds(which, 'index.faiss', bytes);
      }),
      { seed: SEED + 10, numRuns: 400 },
    );
  });

  it('random bytes as index.pkl and as index.faiss', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), fc.boolean(), async (bytes, asPkl) => holds(SPLICE, asPkl ? 'index.pkl' : 'index.faiss', bytes)),
      { seed: SEED + 20, numRuns: 200 },
    );
  });
});
