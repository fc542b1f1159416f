/**
 * Property-based bad input for metadata.json and its Fernet layer, and for whole stores: Python-
 * written tokens and JSON truncated, flipped, spliced, re-signed with a bad version byte,
 * encrypted under the wrong key, random JSON and random bytes (also under a valid signature),
 * deeply nested arrays/objects, huge strings, `__proto__` keys. Each input runs through the real
 * readers in a worker with a heap limit and a deadline (helpers/fuzzWorker.ts): it must read to
 * well-formed entries or fail with a coded MigrateError, in bounded time and memory.
 *
 * Reproduce a failure with the seed fast-check prints: FUZZ_SEED=<seed> npx vitest run test/fuzz-metadata.test.ts
 */
import { createHmac, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fernetEncrypt } from '../src/source/fernet.js';
import { deriveUserKey, FernetKey, type FernetKey as Key } from '../src/source/keys.js';
import { FuzzWorker, violation, type FuzzOutcome, type FuzzTask } from './helpers/fuzzWorker.js';
import { SHARED_STORES } from './helpers/paths.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_121);
const DEADLINE_MS = 15_000;
const USER = 'alice_example_com';
const MASTER = (JSON.parse(readFileSync(join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const STORES = join(SHARED_STORES, 'user_data');
/** Python-written (cryptography.fernet) token under alice's derived key. */
const TOKEN = readFileSync(join(STORES, USER, 'vector_store_personal_assistant/metadata.json'), 'latin1');
/** Python-written plain metadata.json files. */
const PLAIN = ['alice_example_com/vector_store_notes', 'frank/vector_store_personal_assistant', 'grace/vector_store_personal_assistant'].map((d) =>
  readFileSync(join(STORES, d, 'metadata.json')),
);

let work = '';
let worker: FuzzWorker;
let key: Key;
let serial = 0;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fuzz-metadata-'));
  worker = new FuzzWorker({ key: { user: USER, master: MASTER } });
  key = await deriveUserKey(USER, MASTER);
});
afterAll(async () => {
  await worker.close();
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

function file(bytes: Uint8Array | string): string {
  const path = join(work, `in-${serial++ % 4}`);
  writeFileSync(path, bytes);
  return path;
}

async function expectHolds(task: FuzzTask): Promise<FuzzOutcome> {
  const outcome = await worker.run(task, DEADLINE_MS);
  const why = violation(outcome);
  if (why !== null) throw new Error(why);
  return outcome;
}

const encrypt = (plaintext: Uint8Array, k: Key = key): string => fernetEncrypt(plaintext, k, { iv: randomBytes(16), timestamp: 1_700_000_000 });

/** Token string mutations: truncate, flip a character, insert junk, delete, non-ASCII. */
const tokenMutation = fc.oneof(
  fc.nat().map((at) => (t: string) => t.slice(0, at % t.length)),
  fc.tuple(fc.nat(), fc.constantFrom(...'AZaz09-_+/=!% \n\u00e9\u0000')).map(([at, c]) => (t: string) => t.slice(0, at % t.length) + c + t.slice((at % t.length) + 1)),
  fc.tuple(fc.nat(), fc.string({ maxLength: 8 })).map(([at, s]) => (t: string) => t.slice(0, at % t.length) + s + t.slice(at % t.length)),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 40 })).map(([at, n]) => (t: string) => t.slice(0, at % t.length) + t.slice((at % t.length) + n)),
);

/** Byte mutations of the decoded token, re-encoded (and optionally re-signed under the right key). */
function resign(raw: Buffer): string {
  const body = raw.subarray(0, raw.length - 32);
  const mac = createHmac('sha256', key.signingKey).update(body).digest();
  return Buffer.concat([body, mac]).toString('base64url');
}

describe('Fernet tokens (fast-check)', () => {
  it('mutated Python-written tokens: decrypt, or E_DECRYPT, through the buffer and the file API', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(tokenMutation, { minLength: 1, maxLength: 3 }), async (mutations) => {
        let token = TOKEN;
        for (const m of mutations) if (token.length > 0) token = m(token);
        for (const task of [{ kind: 'fernet-buffer' as const, token }, { kind: 'fernet-file' as const, path: file(token) }]) {
          const outcome = await expectHolds(task);
          if (!outcome.ok) expect(outcome.chain[0]?.code).toBe('E_DECRYPT');
        }
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('a bad version byte, bit flips and truncations under a valid signature', async () => {
    const raw = Buffer.from(TOKEN.trim(), 'base64url');
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 255 }).filter((v) => v !== 0x80), fc.nat(), fc.integer({ min: 0, max: 7 }), async (version, at, bit) => {
        const bad = Buffer.from(raw);
        bad[0] = version;
        const flipped = Buffer.from(raw);
        const i = 25 + (at % (raw.length - 57)); // inside the ciphertext
        flipped[i] = (flipped[i] ?? 0) ^ (1 << bit);
        const cut = raw.subarray(0, 57 + (at % (raw.length - 57)));
        for (const token of [resign(bad), resign(flipped), resign(Buffer.concat([cut, Buffer.alloc(32)]))]) {
          const outcome = await expectHolds({ kind: 'fernet-file', path: file(token) });
          // A flipped ciphertext bit under a valid MAC decrypts to garbage, or fails the padding.
          if (!outcome.ok) expect(outcome.chain[0]?.code).toBe('E_DECRYPT');
          if (token === resign(bad)) expect(outcome.ok).toBe(false);
        }
      }),
      { seed: SEED + 1, numRuns: 60 },
    );
  });

  it('the wrong key, random base64 and random bytes: always E_DECRYPT', async () => {
    const arb = fc.oneof(
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((k) => encrypt(Buffer.from('[{"text": "x"}]'), new FernetKey(k, { kind: 'explicit' }))),
      fc.base64String({ maxLength: 400 }).map((s) => `gAAAAA${s}`),
      fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    await fc.assert(
      fc.asyncProperty(arb, async (token) => {
        const outcome = await expectHolds({ kind: 'fernet-buffer', token });
        expect(outcome.ok).toBe(false);
      }),
      { seed: SEED + 2, numRuns: 300 },
    );
  });

  it('a huge token (32 MB) is refused in bounded time and memory by the streaming reader', async () => {
    const huge = `gAAAAA${'A'.repeat(32 << 20)}`;
    const outcome = await expectHolds({ kind: 'metadata', path: file(huge) });
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.chain[0]?.code).toBe('E_DECRYPT');
  });
});

describe('metadata.json (fast-check)', () => {
  /** Keys that mean something to JavaScript objects. */
  const key$ = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__', 'text', ''));
  const entry = fc.dictionary(key$, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 });

  it('arrays of objects read back exactly as JSON.parse reads them (plain and encrypted)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 8 }), fc.boolean(), async (entries, encrypted) => {
        const text = JSON.stringify(entries);
        const outcome = await expectHolds({ kind: 'metadata', path: file(encrypted ? encrypt(Buffer.from(text)) : text) });
        expect(outcome.ok).toBe(true);
        if (outcome.ok) expect(outcome.summary.json).toBe(JSON.stringify(JSON.parse(text)));
      }),
      { seed: SEED + 3, numRuns: 300 },
    );
  });

  it('random JSON values and random bytes (plain, and under a valid signature)', async () => {
    const arb = fc.oneof(
      fc.json().map((s) => Buffer.from(s)),
      fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.concat([Buffer.from('['), b])),
      fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
    );
    await fc.assert(
      fc.asyncProperty(arb, fc.boolean(), async (bytes, encrypted) => {
        await expectHolds({ kind: 'metadata', path: file(encrypted ? encrypt(bytes) : bytes) });
      }),
      { seed: SEED + 4, numRuns: 400 },
    );
  });

  it('mutated Python-written metadata.json', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: PLAIN.length - 1 }), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 6 }), fc.constantFrom('cut', 'put', 'insert'), async (which, at, bytes, op) => {
        const base = PLAIN[which] ?? Buffer.alloc(0);
        const i = at % base.length;
        const out =
          op === 'cut' ? base.subarray(0, i) : op === 'insert' ? Buffer.concat([base.subarray(0, i), bytes, base.subarray(i)]) : Buffer.concat([base.subarray(0, i), bytes, base.subarray(i + bytes.length)]);
        await expectHolds({ kind: 'metadata', path: file(out) });
      }),
      { seed: SEED + 5, numRuns: 300 },
    );
  });

  const nested = (n: number, open: string, close: string): string => `[{"a": ${open.repeat(n)}1${close.repeat(n)}}]`;

  it('deep nesting: what Python reads is read, 10^6 levels are refused with E_METADATA, never a stack overflow', async () => {
    for (const [open, close] of [
      ['[', ']'],
      ['{"k":', '}'],
    ] as const) {
      const ok = await expectHolds({ kind: 'metadata', path: file(nested(990, open, close)) });
      expect(ok.ok).toBe(true); // Python 3.11's json.loads reads 990 levels
      for (const n of [1000, 1_000_000]) {
        const outcome = await expectHolds({ kind: 'metadata', path: file(nested(n, open, close)) });
        expect(!outcome.ok && outcome.chain[0]?.code).toBe('E_METADATA');
        expect(!outcome.ok && outcome.chain[0]?.message).toMatch(/more than 1000 levels/);
      }
    }
    // Unclosed: 4 MB of '[' ends in E_METADATA as well.
    const open = await expectHolds({ kind: 'metadata', path: file('['.repeat(4 << 20)) });
    expect(open.ok).toBe(false);
  });

  it('a 24 MB string and 200,000 keys in one entry are read within the heap limit', async () => {
    const big = await expectHolds({ kind: 'metadata', path: file(`[{"text": "${'x'.repeat(24 << 20)}"}]`) });
    expect(big.ok && big.summary.entries).toBe(1);
    const keys = Array.from({ length: 200_000 }, (_, i) => `"k${i}": ${i}`).join(',');
    const many = await expectHolds({ kind: 'metadata', path: file(`[{${keys}}]`) });
    expect(many.ok && many.summary.entries).toBe(1);
  });
});

describe('whole stores through inspectStore and readStoreRecords (fast-check)', () => {
  it('a Python-written store with one file mutated: read well-formed, or failed with a code', async () => {
    const src = [join(STORES, 'alice_example_com/vector_store_personal_assistant'), join(STORES, 'alice_example_com/vector_store_notes')];
    const originals = src.map((d) => ({ pkl: readFileSync(join(d, 'vectors.pkl')), meta: readFileSync(join(d, 'metadata.json')) }));
    const dir = join(work, 'store');
    mkdirSync(dir);
    const vectorsPath = join(dir, 'vectors.pkl');
    const metadataPath = join(dir, 'metadata.json');
    // Unmutated first: both stores read completely.
    for (const d of src) {
      copyFileSync(join(d, 'vectors.pkl'), vectorsPath);
      copyFileSync(join(d, 'metadata.json'), metadataPath);
      const outcome = await expectHolds({ kind: 'store', dir, vectorsPath, metadataPath });
      expect(outcome.ok).toBe(true);
    }
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1 }), fc.boolean(), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), async (which, inPickle, at, byte, truncate) => {
        const o = originals[which] ?? { pkl: Buffer.alloc(0), meta: Buffer.alloc(0) };
        const target = Buffer.from(inPickle ? o.pkl : o.meta);
        const i = at % target.length;
        target[i] = byte;
        writeFileSync(vectorsPath, inPickle ? (truncate ? target.subarray(0, i) : target) : o.pkl);
        writeFileSync(metadataPath, inPickle ? o.meta : truncate ? target.subarray(0, i) : target);
        await expectHolds({ kind: 'store', dir, vectorsPath, metadataPath });
      }),
      { seed: SEED + 6, numRuns: 150 },
    );
  });
});
