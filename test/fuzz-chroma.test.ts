/**
 * Bad input for the Chroma reader: the real stores' chroma.sqlite3 and the Python-written fixtures'
 * segment files (header.bin, data_level0.bin, length.bin, index_metadata.pickle) truncated and
 * bit-flipped, with bytes overwritten, inserted or deleted. Each store runs through the built reader
 * in a worker with a heap limit and a deadline (helpers/fuzzWorker.ts): it must read well-formed
 * records or fail with a coded MigrateError, in bounded time and memory.
 *
 * Reproduce a failure with the seed fast-check prints: FUZZ_SEED=<seed> npx vitest run test/fuzz-chroma.test.ts
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FuzzWorker, violation } from './helpers/fuzzWorker.js';
import { byteRuns, mutate, type Mutation } from './helpers/mutations.js';
import { REPO, SHARED_TESTDATA } from './helpers/paths.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_202);
const DEADLINE_MS = 20_000;
/** Peak RSS growth allowed: sql.js's WASM heap lives outside the worker's V8 heap limit. */
const RSS_BUDGET_MB = 500;
const CODES = new Set(['E_FORMAT', 'E_UNSAFE_PICKLE', 'E_PATH']);

const REAL = join(SHARED_TESTDATA, 'real-stores/chroma');
const STORES = {
  '0.4': join(REAL, 'AnveshaM__convfinqa_chatbot/chroma'),
  '0.5': join(REAL, 'AllanKamimura__tractian_hackathon/db'),
  '1.x': join(REAL, '103Seeker__ai-doc-chatbot/chroma_db'),
  cosine: join(REPO, 'fixtures/chroma/hnsw-cosine-1x'),
  l2: join(REPO, 'fixtures/chroma/hnsw-l2-wal-05'),
};
type StoreName = keyof typeof STORES;
const SEGMENT: Record<'cosine' | 'l2', string> = { cosine: '04d73b01-5cb5-48fd-8987-aa77b62e459a', l2: '7538b427-1de9-49a1-9c76-c2fd8de047b3' };
const SEGMENT_FILES = ['header.bin', 'data_level0.bin', 'length.bin', 'index_metadata.pickle'];

/** Every file a mutation may hit, as [store, path relative to the store]. */
const TARGETS: [StoreName, string][] = [
  ...(Object.keys(STORES) as StoreName[]).map((s): [StoreName, string] => [s, 'chroma.sqlite3']),
  ...(['cosine', 'l2'] as const).flatMap((s) => SEGMENT_FILES.map((f): [StoreName, string] => [s, `${SEGMENT[s]}/${f}`])),
];

let work = '';
let worker: FuzzWorker;
let rssStartMb = 0;
const peakRssMb = (): number => process.resourceUsage().maxRSS / 1024;
const copies = new Map<StoreName, string>();

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'fuzz-chroma-'));
  for (const [name, dir] of Object.entries(STORES) as [StoreName, string][]) {
    const copy = join(work, name);
    cpSync(dir, copy, { recursive: true });
    copies.set(name, copy);
  }
  worker = new FuzzWorker({ key: { user: 'fuzz', master: null }, maxOldGenerationSizeMb: 256 });
  rssStartMb = peakRssMb();
});
afterAll(async () => {
  await worker.close();
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

/** Reads the store with `file` replaced by `bytes`, then puts the original back. */
async function holds(store: StoreName, file: string, bytes: Uint8Array): Promise<void> {
  const dir = copies.get(store) ?? '';
  const path = join(dir, file);
  const original = readFileSync(path);
  writeFileSync(path, bytes);
  try {
    const why = violation(await worker.run({ kind: 'format', format: 'chroma', dir }, DEADLINE_MS), CODES);
    if (why !== null) throw new Error(`${store}/${file} (${bytes.length} bytes): ${why}`);
  } finally {
    writeFileSync(path, original);
  }
}

const someBytes = byteRuns([0x00, 0x01, 0x7f, 0x80, 0xff], 8);
// Not helpers' mutations(): this order of operations is what the seed's inputs were drawn from.
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('flip' as const), flips: fc.array(fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('overwrite' as const), at: fc.nat(), bytes: someBytes }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: someBytes }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
);

const original = (store: StoreName, file: string): Buffer => readFileSync(join(STORES[store], file));

describe('fuzz: the Chroma reader on damaged stores', () => {
  it('reads every unharmed store (the property is not vacuous)', async () => {
    for (const store of Object.keys(STORES) as StoreName[]) {
      const outcome = await worker.run({ kind: 'format', format: 'chroma', dir: copies.get(store) ?? '' }, DEADLINE_MS);
      expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
    }
  });

  it('every file truncated at its start, inside its first page or slot, at its middle and one byte short', async () => {
    for (const [store, file] of TARGETS) {
      const bytes = original(store, file);
      const points = new Set([0, 1, 17, 99, 100, 1000, 4095, 4096, Math.floor(bytes.length / 2), bytes.length - 1].filter((n) => n < bytes.length));
      for (const at of points) await holds(store, file, bytes.subarray(0, at));
    }
    expect(peakRssMb() - rssStartMb).toBeLessThan(RSS_BUDGET_MB);
  });

  it('random truncations, bit flips, overwrites, insertions and deletions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: TARGETS.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (which, mutations) => {
        const [store, file] = TARGETS[which] ?? TARGETS[0] ?? ['0.5', 'chroma.sqlite3'];
        let bytes: Uint8Array = original(store, file);
        for (const m of mutations) bytes = mutate(bytes, m);
        await holds(store, file, bytes);
      }),
      { seed: SEED, numRuns: 250 },
    );
    expect(peakRssMb() - rssStartMb).toBeLessThan(RSS_BUDGET_MB);
  });

  it('id maps that repeat one memo reference millions of times, or pile up the stack', async () => {
    const file = `${SEGMENT.l2}/index_metadata.pickle`;
    // Built straight into bytes: megabytes of JS number arrays here would weigh in the peak RSS
    // that bounds the reader (they took it over the budget on Node 24).
    const rep = (n: number, unit: Uint8Array): Uint8Array => {
      const out = new Uint8Array(n * unit.length);
      for (let i = 0; i < n; i++) out.set(unit, i * unit.length);
      return out;
    };
    const cat = (...parts: (Uint8Array | number[])[]): Uint8Array => Buffer.concat(parts.map((p) => Uint8Array.from(p)));
    // PROTO 4, EMPTY_LIST, MEMOIZE, then batches of MARK, 1000 x BINGET 0, APPENDS.
    const batch = cat([0x28], rep(1000, Uint8Array.of(0x68, 0)), [0x65]);
    await holds('l2', file, cat([0x80, 4, 0x5d, 0x94], rep(3000, batch), [0x2e]));
    // PROTO 4, NONE, MEMOIZE, then 200,000 x BINGET 0 piled on the stack.
    await holds('l2', file, cat([0x80, 4, 0x4e, 0x94], rep(200_000, Uint8Array.of(0x68, 0)), [0x2e]));
    expect(peakRssMb() - rssStartMb).toBeLessThan(RSS_BUDGET_MB);
  });

  it('header.bin claiming huge element counts and slot sizes', async () => {
    const header = original('cosine', `${SEGMENT.cosine}/header.bin`);
    const at = (offset: number, value: bigint): Buffer => {
      const b = Buffer.from(header);
      b.writeBigUInt64LE(value, offset);
      return b;
    };
    // max_elements, cur_element_count, size_data_per_element, label_offset
    for (const [offset, value] of [
      [12, 1n << 40n],
      [20, 1n << 40n],
      [20, 33n],
      [28, 1n << 40n],
      [36, 1n << 40n],
      [20, (1n << 64n) - 1n],
    ] as const) {
      await holds('cosine', `${SEGMENT.cosine}/header.bin`, at(offset, value));
    }
    expect(peakRssMb() - rssStartMb).toBeLessThan(RSS_BUDGET_MB);
  });
});
