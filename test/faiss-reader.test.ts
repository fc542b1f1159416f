/**
 * The LangChain FAISS reader against the real stores in ../shared/testdata/real-stores/faiss and
 * the Python-written fixtures in fixtures/faiss, each compared with an independent reading by
 * Python (scripts/read_faiss_store.py: struct/numpy for index.faiss, a stub Unpickler that never
 * resolves a real global for index.pkl).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrateError } from '../src/errors.js';
import { createFaissReader, faissReader, FORMAT_READERS } from '../src/source/formats/index.js';
import { unpickleData } from '../src/source/formats/dataPickle.js';
import { readFaissFlatIndex } from '../src/source/formats/faissIndex.js';
import type { FormatRecord } from '../src/source/formats/types.js';
import { REPO, SHARED_TESTDATA } from './helpers/paths.js';

const REAL = join(SHARED_TESTDATA, 'real-stores');
const FIXTURES = join(REPO, 'fixtures/faiss');

interface SourceEntry {
  format: string;
  local_dir: string;
  facts: { index_fourcc: string; dimensions: number; vector_count: number; document_count: number; index_to_docstore_id_count: number; documents_with_text: number };
}
const realStores = (JSON.parse(readFileSync(join(REAL, 'SOURCES.json'), 'utf8')) as { stores: SourceEntry[] }).stores.filter((s) => s.format === 'faiss');

interface PythonReading {
  fourcc: string;
  dimensions: number;
  count: number;
  docstore_count: number;
  mapping_count: number;
  records: { sourceId: string; text: string; metadata: Record<string, unknown>; vector: string | null }[];
}

function pythonReading(dir: string): PythonReading {
  const out = execFileSync('python3', [join(REPO, 'scripts/read_faiss_store.py'), dir], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, PYTHONHASHSEED: '0' } });
  return JSON.parse(out) as PythonReading;
}

async function readAll(dir: string, withVectors = true): Promise<FormatRecord[]> {
  const out: FormatRecord[] = [];
  for await (const record of faissReader.records(dir, '', { withVectors })) out.push(record);
  return out;
}

async function failure(promise: Promise<unknown>): Promise<MigrateError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof MigrateError) return error;
    throw error;
  }
  throw new Error('expected a MigrateError, got success');
}

function expectSameAsPython(records: FormatRecord[], python: PythonReading): void {
  expect(records.length).toBe(python.records.length);
  for (const [i, record] of records.entries()) {
    const want = python.records[i];
    if (want === undefined) throw new Error(`python has no record ${i}`);
    expect(record.position).toBe(i);
    expect(record.sourceId).toBe(want.sourceId);
    // Byte-exact: the UTF-8 of the text as Python decoded it.
    expect(Buffer.from(record.text, 'utf8').equals(Buffer.from(want.text, 'utf8'))).toBe(true);
    expect(record.metadata).toEqual(want.metadata);
    expect(record.vector).toBeInstanceOf(Float32Array);
    const bytes = Buffer.from(record.vector?.buffer ?? new ArrayBuffer(0), record.vector?.byteOffset, record.vector?.byteLength);
    expect(bytes.equals(Buffer.from(want.vector ?? '', 'base64'))).toBe(true);
  }
}

describe('the real LangChain FAISS stores', () => {
  it('are all three present', () => {
    expect(realStores.map((s) => s.local_dir).sort()).toEqual([
      'faiss/007kakashi__FAQ_llm/faiss_index',
      'faiss/AIAnytime__Multimodal-RAG-using-Langchain/faiss_index',
      'faiss/KaeyoungLIAN__QA-Agent/faiss_store',
    ]);
  });

  for (const store of realStores) {
    const dir = join(REAL, store.local_dir);
    describe(store.local_dir, () => {
      let python: PythonReading;
      beforeAll(() => {
        python = pythonReading(dir);
      });

      it('is recognised by its files, and inspected with the counts SOURCES.json measured', async () => {
        expect(await faissReader.matches(dir)).toBe(true);
        const inspection = await faissReader.inspect(dir);
        expect(inspection).toEqual({
          format: 'faiss',
          collections: [{ name: '', records: store.facts.vector_count, dimensions: store.facts.dimensions }],
          files: ['index.faiss', 'index.pkl'],
          warnings: [],
        });
        expect(store.facts.document_count).toBe(store.facts.vector_count);
        expect(store.facts.index_to_docstore_id_count).toBe(store.facts.vector_count);
        expect(python.count).toBe(store.facts.vector_count);
        expect(python.docstore_count).toBe(store.facts.document_count);
      });

      it('yields every text, id, metadata and vector exactly as Python reads them, in vector order', async () => {
        const records = await readAll(dir);
        expect(records.length).toBe(store.facts.vector_count);
        expect(records.filter((r) => r.text.length > 0).length).toBe(store.facts.documents_with_text);
        expect(new Set(records.map((r) => r.vector?.length))).toEqual(new Set([store.facts.dimensions]));
        expectSameAsPython(records, python);
      });

      it('reads the header as Python does', async () => {
        const index = await readFaissFlatIndex(join(dir, 'index.faiss'));
        expect({ fourcc: index.fourcc, dimensions: index.dimensions, count: index.count, metric: index.metric }).toEqual({
          fourcc: store.facts.index_fourcc,
          dimensions: python.dimensions,
          count: python.count,
          metric: 'l2',
        });
      });

      it('yields the same records without vectors when asked', async () => {
        const withVectors = await readAll(dir);
        const without = await readAll(dir, false);
        expect(without.map((r) => r.vector)).toEqual(withVectors.map(() => null));
        expect(without.map(({ vector: _v, ...rest }) => rest)).toEqual(withVectors.map(({ vector: _v, ...rest }) => rest));
      });
    });
  }
});

interface Expected {
  cases: Record<string, { accept?: true; error?: string; messageIncludes?: string; marker?: string; options?: { maxHeldBytes?: number } }>;
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Expected;

describe('Python-written fixtures', () => {
  for (const [name, want] of Object.entries(expected.cases)) {
    const dir = join(FIXTURES, name);
    if (want.accept === true) {
      it(`${name}: read exactly as Python reads it`, async () => {
        const python = pythonReading(dir);
        const inspection = await faissReader.inspect(dir);
        expect(inspection.collections).toEqual([{ name: '', records: python.count, dimensions: python.count === 0 ? null : python.dimensions }]);
        expectSameAsPython(await readAll(dir), python);
      });
    } else {
      it(`${name}: refused with ${want.error}`, async () => {
        const reader = createFaissReader(want.options ?? {});
        const records = async (): Promise<FormatRecord[]> => {
          const out: FormatRecord[] = [];
          for await (const record of reader.records(dir, '', { withVectors: true })) out.push(record);
          return out;
        };
        // Started one after the other: a second promise started early rejects while the first is
        // awaited, which Node reports as an unhandled rejection.
        for (const attempt of [() => reader.inspect(dir), records]) {
          const error = await failure(attempt());
          expect(error.code).toBe(want.error);
          expect(error.message).toContain(want.messageIncludes ?? '');
        }
        if (want.marker !== undefined) {
          expect(existsSync(join(process.cwd(), want.marker))).toBe(false);
          expect(existsSync(join(dir, want.marker))).toBe(false);
        }
      });
    }
  }

  it('reads an IndexFlatIP as inner product', async () => {
    const index = await readFaissFlatIndex(join(FIXTURES, 'flat-ip.pdf/index.faiss'));
    expect({ fourcc: index.fourcc, metric: index.metric, dimensions: index.dimensions, count: index.count }).toEqual({ fourcc: 'IxFI', metric: 'inner_product', dimensions: 8, count: 4 });
  });

  it('keeps a metadata key named __proto__ as a plain key, without touching any prototype', async () => {
    const records = await readAll(join(FIXTURES, 'flat-ip.pdf'));
    const doc = records.find((r) => r.sourceId === 'doc-b');
    expect(Object.getPrototypeOf(doc?.metadata)).toBe(Object.prototype);
    expect(Object.hasOwn(doc?.metadata ?? {}, '__proto__')).toBe(true);
    expect(JSON.parse(JSON.stringify(doc?.metadata))).toMatchObject({ big: '1180591620717411303424', inf: 'Infinity', bytes: 'AAH+/w==', 7: 'int key' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('adds the Document id to metadata only when the metadata has no id of its own', async () => {
    const records = await readAll(join(FIXTURES, 'flat-ip.pdf'));
    expect(Object.fromEntries(records.map((r) => [r.sourceId, r.metadata.id]))).toEqual({ 'doc-a': 'doc-a', 'doc-b': undefined, 'doc-c': 'metadata wins', 'doc-d': 'doc-d' });
  });
});

describe('the restricted unpickler', () => {
  it('numbers memo slots as Python does when a pickle writes them out of order', () => {
    // BINPUT 2, then MEMOIZE twice: len(memo) is 1 then 2, so the second MEMOIZE overwrites slot 2.
    const bytes = Uint8Array.from([0x80, 4, 0x4e, 0x71, 2, 0x30, 0x4b, 7, 0x94, 0x30, 0x4b, 9, 0x94, 0x30, 0x68, 2, 0x68, 1, 0x86, 0x2e]);
    const python = execFileSync('python3', ['-c', 'import pickle,sys,json; print(json.dumps(pickle.loads(bytes.fromhex(sys.argv[1]))))', Buffer.from(bytes).toString('hex')], { encoding: 'utf8' });
    const value = unpickleData(bytes, { file: 'test.pkl', classes: new Set(), maxHeldBytes: 1 << 20 });
    expect(value).toMatchObject({ kind: 'tuple', items: JSON.parse(python) as unknown[] });
    expect(JSON.parse(python)).toEqual([9, 7]);
  });
});

describe('save_local(folder, index_name=...)', () => {
  // Two real stores' files under other index names, byte for byte: LangChain writes the same bytes
  // whatever the name, so the records must be exactly the ones read (and checked against Python)
  // under the default name.
  const first = join(REAL, 'faiss/KaeyoungLIAN__QA-Agent/faiss_store');
  const second = join(REAL, 'faiss/007kakashi__FAQ_llm/faiss_index');
  let work = '';
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'faiss-names-'));
  });
  afterAll(() => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });
  const records = async (dir: string, collection: string) => {
    const out: FormatRecord[] = [];
    for await (const r of faissReader.records(dir, collection, { withVectors: true })) out.push(r);
    return out;
  };

  it('reads each {name}.faiss + {name}.pkl as a collection, the default name as the unnamed one', async () => {
    const dir = join(work, 'several');
    cpSync(first, dir, { recursive: true });
    cpSync(join(second, 'index.faiss'), join(dir, 'faq.faiss'));
    cpSync(join(second, 'index.pkl'), join(dir, 'faq.pkl'));
    // A .faiss without its .pkl is no index of save_local's.
    cpSync(join(second, 'index.faiss'), join(dir, 'orphan.faiss'));
    expect(await faissReader.matches(dir)).toBe(true);
    const inspection = await faissReader.inspect(dir);
    expect(inspection.collections.map((c) => [c.name, c.records])).toEqual([
      ['faq', 75],
      ['', 25],
    ]);
    expect(inspection.files).toEqual(['faq.faiss', 'faq.pkl', 'index.faiss', 'index.pkl']);
    expect(await records(dir, '')).toEqual(await readAll(first));
    const faq = await records(dir, 'faq');
    expect(faq).toEqual(await readAll(second));
    expectSameAsPython(faq, pythonReading(second));
  });

  it('a folder with only a custom name matches, and names that are not there are refused with E_FORMAT', async () => {
    const dir = join(work, 'custom');
    cpSync(first, dir, { recursive: true });
    for (const ext of ['faiss', 'pkl']) {
      cpSync(join(dir, `index.${ext}`), join(dir, `docs.${ext}`));
      unlinkSync(join(dir, `index.${ext}`));
    }
    expect(await faissReader.matches(dir)).toBe(true);
    expect((await faissReader.inspect(dir)).collections.map((c) => c.name)).toEqual(['docs']);
    expect(await records(dir, 'docs')).toEqual(await readAll(first));
    const missing = await failure(records(dir, ''));
    expect(missing.code).toBe('E_FORMAT');
    expect(missing.message).toMatch(/no FAISS collection "" \(an index named index\); it has "docs"/);
    // 'index' is only ever the unnamed collection.
    cpSync(join(dir, 'docs.faiss'), join(dir, 'index.faiss'));
    cpSync(join(dir, 'docs.pkl'), join(dir, 'index.pkl'));
    expect((await failure(records(dir, 'index'))).code).toBe('E_FORMAT');
  });
});

describe('refusals on altered copies of a real store', () => {
  const source = join(REAL, 'faiss/KaeyoungLIAN__QA-Agent/faiss_store');
  let work = '';
  let serial = 0;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'faiss-reader-'));
  });
  afterAll(() => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });
  // A store directory with dots in its name, as LangChain users save them (faiss_store/abc.pdf/).
  function copy(): string {
    const dir = join(work, `case-${serial++}`, 'abc.pdf');
    cpSync(source, dir, { recursive: true });
    return dir;
  }
  function patchIndex(dir: string, at: number, bytes: Uint8Array): void {
    const path = join(dir, 'index.faiss');
    const data = readFileSync(path);
    data.set(bytes, at);
    writeFileSync(path, data);
  }

  for (const [fourcc, what] of [
    ['IwFl', 'IndexIVFFlat'],
    ['IHNf', 'IndexHNSWFlat'],
    ['IxPq', 'IndexPQ'],
    ['IxMp', 'IndexIDMap'],
  ] as const) {
    it(`refuses a ${what} ('${fourcc}'), naming it and the index types that are read`, async () => {
      const dir = copy();
      patchIndex(dir, 0, Buffer.from(fourcc, 'latin1'));
      const error = await failure(faissReader.inspect(dir));
      expect(error.code).toBe('E_FORMAT');
      expect(error.message).toContain(`'${fourcc}'`);
      expect(error.message).toContain(what);
      expect(error.message).toContain("IndexFlatL2 ('IxF2') and IndexFlatIP ('IxFI')");
    });
  }

  it('refuses a truncated index.faiss before reading any vector', async () => {
    const dir = copy();
    const path = join(dir, 'index.faiss');
    writeFileSync(path, readFileSync(path).subarray(0, 5000));
    const error = await failure(faissReader.inspect(dir));
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain('truncated');
  });

  it('refuses a vector holding NaN with E_VECTOR naming its position', async () => {
    const dir = copy();
    const nan = new Uint8Array(new Float32Array([Number.NaN]).buffer);
    patchIndex(dir, 45 + 4 * (1024 * 3 + 7), nan);
    const error = await failure(faissReader.inspect(dir));
    expect(error.code).toBe('E_VECTOR');
    expect(error.message).toContain('vector 3 holds NaN at dimension 7');
  });

  it('refuses a header whose metric disagrees with its fourcc', async () => {
    const dir = copy();
    patchIndex(dir, 33, Uint8Array.from([0, 0, 0, 0]));
    const error = await failure(faissReader.inspect(dir));
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain('metric_type 0');
  });

  it('needs both files: a missing index.pkl is E_MISSING_FILE, and matches() says no', async () => {
    const dir = copy();
    unlinkSync(join(dir, 'index.pkl'));
    expect(await faissReader.matches(dir)).toBe(false);
    expect((await failure(faissReader.inspect(dir))).code).toBe('E_MISSING_FILE');
  });

  it('refuses an index.pkl that is a link to a file outside the store with E_PATH', async () => {
    const dir = copy();
    const outside = join(work, `outside-${serial++}.pkl`);
    cpSync(join(dir, 'index.pkl'), outside);
    unlinkSync(join(dir, 'index.pkl'));
    symlinkSync(outside, join(dir, 'index.pkl'));
    const error = await failure(faissReader.inspect(dir));
    expect(error.code).toBe('E_PATH');
    expect(error.message).toContain('outside its store directory');
  });

  it('bounds the size of index.pkl it reads into memory', async () => {
    const error = await failure(createFaissReader({ maxDocstoreBytes: 10_000 }).inspect(source));
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain('over the 10000-byte limit');
  });

  it('bounds what a docstore pickle may make it hold', async () => {
    const error = await failure(createFaissReader({ maxHeldBytes: 100_000 }).inspect(source));
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain('more than 100000 bytes of decoded values');
  });

  it('is exported in FORMAT_READERS', () => {
    expect(FORMAT_READERS.map((r) => r.format)).toContain('faiss');
  });
});
