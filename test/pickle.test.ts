import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrateError } from '../src/errors.js';
import { PickleDecoder, type DecoderOptions } from '../src/source/pickle/decoder.js';
import { inspectPickledVectors, readPickledVectors, type PickleLimits } from '../src/source/pickle/index.js';
import type { StoredVector } from '../src/source/types.js';
import { openDescriptors } from './helpers/fds.js';
import { SHARED_STORES } from './helpers/paths.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/pickles/', import.meta.url));
const USER_DATA = join(SHARED_STORES, 'user_data');

interface OkCase {
  protocol: number;
  shape: string;
  dtype: string;
  count: number;
  dimensions: number | null;
  arrayTypes: string[];
  vectors: number[][];
  limits?: Partial<PickleLimits>;
}
interface ErrorCase {
  error: string;
  global?: string;
  index?: number;
  messageIncludes?: string;
  limits?: Partial<PickleLimits>;
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as { files: Record<string, OkCase | ErrorCase> };

async function decodeAll(path: string, options: DecoderOptions = {}): Promise<{ vectors: StoredVector[]; decoder: PickleDecoder }> {
  const decoder = new PickleDecoder(path, options);
  const vectors: StoredVector[] = [];
  for await (const vector of decoder.vectors()) vectors.push(vector);
  return { vectors, decoder };
}

/** Runs the decoder to its error, counting the vectors it yielded before failing. */
async function decodeError(path: string, options: DecoderOptions = {}): Promise<{ error: MigrateError; yielded: number }> {
  let yielded = 0;
  try {
    for await (const _vector of new PickleDecoder(path, options).vectors()) yielded++;
  } catch (error) {
    expect(error).toBeInstanceOf(MigrateError);
    return { error: error as MigrateError, yielded };
  }
  throw new Error(`${path} decoded without an error`);
}

/** sha256 over every value as a big-endian float64, the same digest the Python side computes. */
function digest(vectors: Iterable<StoredVector>): string {
  const hash = createHash('sha256');
  for (const v of vectors) {
    const buf = Buffer.alloc(v.length * 8);
    v.forEach((x, i) => buf.writeDoubleBE(x, i * 8));
    hash.update(buf);
  }
  return hash.digest('hex');
}

/** The Python side of the comparisons: loads with an Unpickler that only resolves numpy globals. */
const PY_DIGEST = `
import hashlib, io, json, pickle, sys
import numpy as np

class NumpyOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("numpy") or (module, name) == ("_codecs", "encode"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}")

def summary(path):
    with open(path, "rb") as f:
        obj = NumpyOnly(f).load()
    vectors = [np.asarray(v) for v in obj]
    h = hashlib.sha256()
    for v in vectors:
        h.update(np.asarray(v, dtype=">f8").tobytes())
    kind = "list-of-lists" if isinstance(obj, list) and vectors and isinstance(obj[0], list) else "matrix" if isinstance(obj, np.ndarray) else "list-of-arrays" if vectors else "empty"
    return {
        "count": len(vectors),
        "dimensions": int(vectors[0].shape[0]) if vectors else None,
        "first": vectors[0].astype(float).tolist() if vectors else None,
        "last": vectors[-1].astype(float).tolist() if vectors else None,
        "sha256": h.hexdigest(),
        "arrayType": ("Float64Array" if vectors[0].dtype == np.float64 else "Float32Array") if vectors else None,
        "shape": kind,
    }

print(json.dumps({p: summary(p) for p in sys.argv[1:]}))
`;

function python(script: string, args: string[]): string {
  return execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
}

describe('pickle fixtures (written by scripts/make-pickle-fixtures.py)', () => {
  it('has an expectation for every fixture file and a file for every expectation', () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.pkl'));
    expect(files.sort()).toEqual(Object.keys(expected.files).sort());
  });

  for (const [name, want] of Object.entries(expected.files)) {
    const path = join(FIXTURES, name);
    if ('error' in want) {
      it(`${name}: refused with ${want.error}`, async () => {
        for (const chunkBytes of [undefined, 16]) {
          const { error, yielded } = await decodeError(path, { limits: want.limits, ...(chunkBytes ? { chunkBytes } : {}) });
          expect(error.code, error.message).toBe(want.error);
          expect(error.message).toMatch(/^vectors\.pkl/);
          if (want.global !== undefined) expect(error.message).toContain(`references the global ${want.global}, `);
          if (want.index !== undefined) expect(error.message).toContain(`vector ${want.index} `);
          if (want.messageIncludes !== undefined) expect(error.message).toContain(want.messageIncludes);
          // Unsafe files are refused by the scan, before a single vector comes out.
          if (want.error === 'E_UNSAFE_PICKLE') expect(yielded).toBe(0);
        }
        await expect(inspectPickledVectors(path, want.limits)).rejects.toMatchObject({ code: want.error });
      });
    } else {
      it(`${name}: ${want.shape}, ${want.dtype}, ${want.count} x ${want.dimensions}`, async () => {
        // Tiny chunks put every read boundary inside some opcode or argument.
        for (const chunkBytes of [undefined, 16, 97]) {
          const { vectors, decoder } = await decodeAll(path, { limits: want.limits, ...(chunkBytes ? { chunkBytes } : {}) });
          expect(vectors.map((v) => Array.from(v))).toEqual(want.vectors);
          expect(vectors.map((v) => v.constructor.name)).toEqual(want.arrayTypes);
          expect(decoder.info).toEqual({ protocol: want.protocol, shape: want.shape, dtype: want.dtype, count: want.count, dimensions: want.dimensions });
        }
        expect(await inspectPickledVectors(path, want.limits)).toEqual({
          protocol: want.protocol,
          shape: want.shape,
          dtype: want.dtype,
          count: want.count,
          dimensions: want.dimensions,
        });
      });
    }
  }

  it('keeps a memo slot only while a later GET needs it', async () => {
    const { decoder } = await decodeAll(join(FIXTURES, 'shared-list-p4.pkl'));
    expect(decoder.stats.maxMemoKept).toBe(1);
    const plain = await decodeAll(join(FIXTURES, 'list-of-lists-p4.pkl'));
    expect(plain.decoder.stats.maxMemoKept).toBe(0);
  });

  it('hands out shared vectors as separate arrays', async () => {
    const { vectors } = await decodeAll(join(FIXTURES, 'shared-list-p4.pkl'));
    expect(vectors[0]).not.toBe(vectors[2]);
    expect(Array.from(vectors[2] ?? [])).toEqual(Array.from(vectors[0] ?? []));
  });
});

describe('the Python-written stores in testdata', () => {
  const stores = readdirSync(USER_DATA)
    .flatMap((user) => readdirSync(join(USER_DATA, user)).map((store) => join(USER_DATA, user, store, 'vectors.pkl')))
    .filter((path) => existsSync(path));
  const safe = stores.filter((path) => !path.includes('/ivan/'));
  let python_: Record<string, { count: number; dimensions: number | null; first: number[] | null; last: number[] | null; sha256: string; arrayType: string | null; shape: string }> = {};

  beforeAll(() => {
    python_ = JSON.parse(python(PY_DIGEST, safe)) as typeof python_;
  });

  it('covers the stores named in the brief', () => {
    for (const store of ['alice_example_com/vector_store_personal_assistant', 'alice_example_com/vector_store_notes', 'bob/', 'carol_corp/', 'judy/']) {
      expect(safe.some((path) => path.includes(store))).toBe(true);
    }
  });

  for (const path of stores.filter((p) => !p.includes('/ivan/'))) {
    it(`decodes ${path.slice(USER_DATA.length + 1)} exactly as Python loads it`, async () => {
      const want = python_[path];
      expect(want).toBeDefined();
      if (want === undefined) return;
      const { vectors, decoder } = await decodeAll(path);
      expect(vectors.length).toBe(want.count);
      expect(decoder.info?.count).toBe(want.count);
      expect(decoder.info?.dimensions).toBe(want.dimensions);
      expect(decoder.info?.shape).toBe(want.shape);
      expect(digest(vectors)).toBe(want.sha256);
      if (want.count > 0) {
        expect(Array.from(vectors[0] ?? [])).toEqual(want.first);
        expect(Array.from(vectors[vectors.length - 1] ?? [])).toEqual(want.last);
        expect(vectors[0]?.constructor.name).toBe(want.arrayType);
      }
    });
  }

  it('matches what the brief says about the formats', async () => {
    const info = async (store: string) => inspectPickledVectors(join(USER_DATA, store, 'vectors.pkl'));
    expect(await info('alice_example_com/vector_store_personal_assistant')).toEqual({ protocol: 4, shape: 'list-of-lists', dtype: 'float64', count: 40, dimensions: 384 });
    expect(await info('alice_example_com/vector_store_notes')).toEqual({ protocol: 5, shape: 'matrix', dtype: 'float32', count: 12, dimensions: 384 });
    expect(await info('bob/vector_store_personal_assistant')).toEqual({ protocol: 2, shape: 'list-of-arrays', dtype: 'float32', count: 25, dimensions: 768 });
    expect(await info('carol_corp/vector_store_personal_assistant')).toMatchObject({ count: 30, dimensions: 3072 });
    expect(await info('judy/vector_store_empty')).toEqual({ protocol: 4, shape: 'empty', dtype: 'float64', count: 0, dimensions: null });
  });

  it('refuses ivan (posix.system via REDUCE) without running anything', async () => {
    const path = join(USER_DATA, 'ivan/vector_store_personal_assistant/vectors.pkl');
    rmSync('/tmp/pwned', { force: true });
    const error = await inspectPickledVectors(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrateError);
    expect((error as MigrateError).code).toBe('E_UNSAFE_PICKLE');
    expect((error as MigrateError).message).toBe('vectors.pkl references the global posix.system, which a vector pickle never needs; refused without running anything');
    let yielded = 0;
    await expect(
      (async () => {
        for await (const _v of readPickledVectors(path)) yielded++;
      })(),
    ).rejects.toMatchObject({ code: 'E_UNSAFE_PICKLE' });
    expect(yielded).toBe(0);
    expect(existsSync('/tmp/pwned')).toBe(false);
  });
});

describe('large files: streaming with bounded memory', () => {
  let dir = '';
  let sums: Record<string, string> = {};
  const ROWS = 20_000;
  const DIMS = 384;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pickle-test-'));
    // Written by Python; the digests are computed there, from the objects, not from our output.
    const script = `
import hashlib, json, os, pickle, sys
import numpy as np
out, rows, dims = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(7)
m = rng.standard_normal((rows, dims))
def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a, dtype=">f8").tobytes()).hexdigest()
files = {}
def write(name, obj, protocol, values):
    with open(os.path.join(out, name), "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    files[name] = digest(values)
write("lists.pkl", m.tolist(), 4, m)
f4 = m.astype(np.float32)
write("matrix-p5.pkl", f4, 5, f4)
write("arrays-p2.pkl", list(f4[:3000]), 2, f4[:3000])
write("matrix-p2.pkl", f4[:3000], 2, f4[:3000])
fortran8 = np.asfortranarray(m[:3000])
write("fortran-f8-p4.pkl", fortran8, 4, fortran8)
fortran4 = np.asfortranarray(f4[:2000, :256])
write("fortran-f4-p2.pkl", fortran4, 2, fortran4)
print(json.dumps(files))
`;
    sums = JSON.parse(python(script, [dir, String(ROWS), String(DIMS)])) as Record<string, string>;
  });

  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  async function streamDigest(name: string, options: DecoderOptions = {}): Promise<{ sha: string; count: number; decoder: PickleDecoder }> {
    const decoder = new PickleDecoder(join(dir, name), options);
    const hash = createHash('sha256');
    let count = 0;
    for await (const v of decoder.vectors()) {
      const buf = Buffer.alloc(v.length * 8);
      v.forEach((x, i) => buf.writeDoubleBE(x, i * 8));
      hash.update(buf);
      count++;
    }
    return { sha: hash.digest('hex'), count, decoder };
  }

  it(`decodes a ${ROWS} x ${DIMS} list of lists holding at most one append batch of vectors`, async () => {
    expect(statSync(join(dir, 'lists.pkl')).size).toBeGreaterThan(ROWS * DIMS * 9);
    const { sha, count, decoder } = await streamDigest('lists.pkl');
    expect(count).toBe(ROWS);
    expect(sha).toBe(sums['lists.pkl']);
    expect(decoder.info).toEqual({ protocol: 4, shape: 'list-of-lists', dtype: 'float64', count: ROWS, dimensions: DIMS });
    // Structural bound: pickle.dump appends in batches of 1000; the decoder never holds more.
    expect(decoder.stats.maxHeldVectors).toBeGreaterThan(0);
    expect(decoder.stats.maxHeldVectors).toBeLessThanOrEqual(1001);
    expect(decoder.stats.maxMemoKept).toBe(0);
    // What it weighs stays that of one batch (1000 x 384 floats), not of the file.
    expect(decoder.stats.maxHeldBytes).toBeLessThan(1001 * (DIMS * 8 + 100));
  });

  it('decodes a list of protocol 2 arrays holding at most one batch', async () => {
    const { sha, count, decoder } = await streamDigest('arrays-p2.pkl');
    expect(count).toBe(3000);
    expect(sha).toBe(sums['arrays-p2.pkl']);
    expect(decoder.stats.maxHeldVectors).toBeLessThanOrEqual(1001);
  });

  it('streams a large protocol 5 matrix from the file without reading its data into memory', async () => {
    const { sha, count, decoder } = await streamDigest('matrix-p5.pkl');
    expect(count).toBe(ROWS);
    expect(sha).toBe(sums['matrix-p5.pkl']);
    expect(decoder.stats.bytesLeftInFile).toBe(ROWS * DIMS * 4);
  });

  it('streams a large protocol 2 matrix (latin-1 text) from the file', async () => {
    const { sha, count, decoder } = await streamDigest('matrix-p2.pkl', { chunkBytes: 4093 });
    expect(count).toBe(3000);
    expect(sha).toBe(sums['matrix-p2.pkl']);
    expect(decoder.stats.bytesLeftInFile).toBeGreaterThan(3000 * DIMS * 4);
  });

  it('streams large Fortran-order matrices in bounded blocks', async () => {
    const f8 = await streamDigest('fortran-f8-p4.pkl', { limits: { maxMatrixBlockBytes: 1 << 20 } });
    expect(f8.count).toBe(3000);
    expect(f8.sha).toBe(sums['fortran-f8-p4.pkl']);
    expect(f8.decoder.stats.matrixPasses).toBe(Math.ceil(3000 / Math.floor((1 << 20) / (DIMS * 8))));
    const f4 = await streamDigest('fortran-f4-p2.pkl', { limits: { maxMatrixBlockBytes: 1 << 18 }, chunkBytes: 1001 });
    expect(f4.count).toBe(2000);
    expect(f4.sha).toBe(sums['fortran-f4-p2.pkl']);
    expect(f4.decoder.stats.matrixPasses).toBeGreaterThan(1);
  });

  it('closes the file when the consumer stops early', async () => {
    const before = openDescriptors();
    for (let i = 0; i < 5; i++) {
      let seen = 0;
      for await (const _v of readPickledVectors(join(dir, 'lists.pkl'))) if (++seen === 3) break;
    }
    // A reader that left its handle open would hold one descriptor per abandoned read.
    expect(openDescriptors()).toBeLessThanOrEqual(before);
  });
});

describe('hostile input at the default limits', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pickle-hostile-'));
  });
  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, bytes: number[] | Uint8Array): string => {
    const path = join(dir, name);
    writeFileSync(path, Uint8Array.from(bytes));
    return path;
  };

  it('refuses unbounded stack growth', async () => {
    const path = write('stack.pkl', [0x80, 4, ...new Array<number>(50_000).fill(0x4e), 0x2e]);
    const { error } = await decodeError(path);
    expect(error.code).toBe('E_PICKLE');
    expect(error.message).toContain('maxStackDepth');
  });

  it('refuses a flood of floats (the fast path has the same limit)', async () => {
    const float = [0x47, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0];
    const path = write('floats.pkl', [0x80, 4, 0x5d, 0x28, ...Array.from({ length: 12_000 }, () => float).flat(), 0x65, 0x2e]);
    const { error } = await decodeError(path);
    expect(error.message).toContain('maxStackDepth');
    // Within the limit, a run of floats read across many buffer refills is one vector.
    const ok = write('floats-ok.pkl', [0x80, 4, 0x5d, 0x5d, 0x28, ...Array.from({ length: 5_000 }, () => float).flat(), 0x65, 0x61, 0x2e]);
    const decoded = await decodeAll(ok, { chunkBytes: 4096 });
    expect(decoded.vectors.length).toBe(1);
    expect(decoded.vectors[0]?.length).toBe(5000);
    expect(decoded.vectors[0]?.every((x) => x === 1)).toBe(true);
  });

  it('refuses to hold more than maxHeldBytes, however the file gets there', async () => {
    // 120 bytes objects of 100 kB, all left on the stack (each is under maxInlineBytes, so read).
    const item = Buffer.concat([Buffer.from([0x42]), Buffer.from(Uint32Array.of(100_000).buffer), Buffer.alloc(100_000, 7)]);
    const path = write('heavy.pkl', Buffer.concat([Buffer.from([0x80, 4, 0x28]), ...new Array<Buffer>(120).fill(item), Buffer.from([0x74, 0x2e])]));
    const { error } = await decodeError(path, { limits: { maxHeldBytes: 10 << 20 } });
    expect(error.code).toBe('E_PICKLE');
    expect(error.message).toContain('maxHeldBytes');
  });

  it('refuses deep nesting', async () => {
    const path = write('nest.pkl', [0x80, 4, 0x29, ...new Array<number>(100_000).fill(0x85), 0x2e]);
    const { error } = await decodeError(path);
    expect(error.message).toContain('maxNesting');
  });

  it('refuses an empty file and a missing one', async () => {
    expect((await decodeError(write('empty.pkl', []))).error.message).toContain('empty');
    await expect(inspectPickledVectors(join(dir, 'nope.pkl'))).rejects.toMatchObject({ code: 'E_MISSING_FILE' });
  });

  it('refuses every truncation of a valid file', async () => {
    const whole = readFileSync(join(FIXTURES, 'list-of-arrays-f4-p2.pkl'));
    for (let cut = 1; cut < whole.length; cut += 7) {
      const { error } = await decodeError(write('cut.pkl', whole.subarray(0, cut)));
      expect(error.code).toBe('E_PICKLE');
    }
  });

  it('rejects limits that are not positive integers', async () => {
    await expect(inspectPickledVectors(join(FIXTURES, 'empty-p4.pkl'), { maxStackDepth: 0 })).rejects.toMatchObject({ code: 'E_CONFIG' });
  });
});
