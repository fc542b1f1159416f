/**
 * The LlamaIndex reader against the six real persist directories (Python 0.6, 0.10, FaissVectorStore;
 * TS 0.1, 0.2, 0.12) and the Python-written fixtures (scripts/make-llamaindex-fixtures.py), each
 * compared with an independent reading by Python's json/struct/numpy (test/llamaindex_reference.py):
 * same ids in the same order, byte-exact texts, equal metadata, equal float32 vectors.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, renameSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MigrateError } from '../src/errors.js';
import { FORMAT_READERS, llamaIndexReader } from '../src/source/formats/index.js';
import { readBoundedJson } from '../src/source/formats/jsonFile.js';
import { llamaIndexFlavor } from '../src/source/formats/llamaIndex.js';
import type { FormatRecord } from '../src/source/formats/types.js';
import { REPO, SHARED_TESTDATA } from './helpers/paths.js';

const REAL = path.join(SHARED_TESTDATA, 'real-stores');
const FIXTURES = path.join(REPO, 'fixtures/llamaindex');
const REFERENCE = path.join(REPO, 'test/llamaindex_reference.py');

interface SourceEntry {
  format: string;
  local_dir: string;
  facts: { vector_count: number; dimensions: number[] };
}
const SOURCES = (JSON.parse(readFileSync(path.join(REAL, 'SOURCES.json'), 'utf8')) as { stores: SourceEntry[] }).stores.filter((s) =>
  s.format.startsWith('llamaindex'),
);

interface RefRecord {
  id: string;
  text: string;
  metadata: Record<string, unknown>;
  vector: string;
}
interface Reference {
  flavor: 'python' | 'ts';
  collections: Record<string, RefRecord[]>;
  skipped: Record<string, number>;
}

function reference(dir: string): Reference {
  return JSON.parse(execFileSync('python3', [REFERENCE, dir], { encoding: 'utf8', maxBuffer: 256 << 20 })) as Reference;
}

async function collect(dir: string, collection: string, withVectors: boolean): Promise<FormatRecord[]> {
  const out: FormatRecord[] = [];
  for await (const r of llamaIndexReader.records(dir, collection, { withVectors })) out.push(r);
  return out;
}

function hex(v: Float32Array | null): string | null {
  return v === null ? null : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
}

async function expectSameAsPython(dir: string): Promise<Reference> {
  const ref = reference(dir);
  const inspection = await llamaIndexReader.inspect(dir);
  expect(inspection.collections.map((c) => c.name).sort()).toEqual(Object.keys(ref.collections).sort());
  for (const [name, expected] of Object.entries(ref.collections)) {
    const got = await collect(dir, name, true);
    expect(got.map((r) => r.sourceId)).toEqual(expected.map((r) => r.id));
    expect(got.map((r) => r.position)).toEqual(expected.map((_, i) => i));
    for (const [i, r] of got.entries()) {
      const want = expected[i] as RefRecord;
      expect(r.text === want.text, `text of ${r.sourceId}`).toBe(true);
      expect(JSON.parse(JSON.stringify(r.metadata))).toEqual(want.metadata);
      expect(Object.getPrototypeOf(r.metadata)).toBe(Object.prototype);
      expect(hex(r.vector)).toBe(want.vector);
    }
    const withoutVectors = await collect(dir, name, false);
    expect(withoutVectors.map((r) => [r.sourceId, r.text, r.vector])).toEqual(got.map((r) => [r.sourceId, r.text, null]));
    const c = inspection.collections.find((x) => x.name === name);
    expect(c?.records).toBe(expected.length);
    expect(c?.dimensions ?? null).toBe(expected.length === 0 ? null : (got[0]?.vector?.length ?? null));
  }
  expect(await llamaIndexFlavor(dir)).toBe(ref.flavor);
  return ref;
}

async function codeOf(promise: Promise<unknown>): Promise<MigrateError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(MigrateError);
    return error as MigrateError;
  }
  throw new Error('expected a MigrateError');
}

async function inspectError(dir: string): Promise<MigrateError> {
  return codeOf(llamaIndexReader.inspect(dir));
}

const temps: string[] = [];
function copyOf(dir: string): string {
  const tmp = mkdtempSync(path.join(tmpdir(), 'llamaindex-'));
  temps.push(tmp);
  const dest = path.join(tmp, 'storage');
  cpSync(dir, dest, { recursive: true });
  return dest;
}
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

describe('real LlamaIndex stores', () => {
  it('finds the six stores SOURCES.json lists', () => {
    expect(SOURCES).toHaveLength(6);
  });

  for (const source of SOURCES) {
    it(`${source.local_dir}: counts as SOURCES.json measured, records as Python reads them`, async () => {
      const dir = path.join(REAL, source.local_dir);
      expect(await llamaIndexReader.matches(dir)).toBe(true);
      const ref = await expectSameAsPython(dir);
      expect(ref.flavor).toBe(source.format === 'llamaindex-ts' ? 'ts' : 'python');
      const inspection = await llamaIndexReader.inspect(dir);
      const main = inspection.collections.find((c) => c.name === 'default');
      expect(main?.records).toBe(source.facts.vector_count);
      expect(main?.dimensions).toBe(source.facts.dimensions[0]);
      expect(inspection.collections.filter((c) => c.name !== 'default').every((c) => c.records === 0)).toBe(true);
      expect(inspection.format).toBe('llamaindex');
      expect(inspection.warnings).toEqual([]);
    });
  }

  it('lists the files the records come from', async () => {
    const inspection = await llamaIndexReader.inspect(path.join(REAL, 'llamaindex-ts/PinKevin__ai-cv-evaluator/storage'));
    expect(inspection.files).toEqual(['doc_store.json', 'index_store.json', 'vector_store.json']);
  });

  it('0.6 stores name the source document through text_id_to_doc_id (ref_doc_id)', async () => {
    const dir = path.join(REAL, 'llamaindex-py/ktny__study-llamaindex/storage');
    const vs = JSON.parse(readFileSync(path.join(dir, 'vector_store.json'), 'utf8')) as { text_id_to_doc_id: Record<string, string> };
    const records = await collect(dir, 'default', false);
    expect(records.map((r) => [r.sourceId, r.metadata.ref_doc_id])).toEqual(Object.entries(vs.text_id_to_doc_id));
  });

  it('TS DOCUMENT entries (source documents, no embedding) are not records', async () => {
    const dir = path.join(REAL, 'llamaindex-ts/PinKevin__ai-cv-evaluator/storage');
    const docstore = JSON.parse(readFileSync(path.join(dir, 'doc_store.json'), 'utf8')) as { 'docstore/data': Record<string, { __type__: string }> };
    const documents = Object.entries(docstore['docstore/data']).filter(([, e]) => e.__type__ === 'DOCUMENT').map(([id]) => id);
    expect(documents).toHaveLength(4);
    const ids = (await collect(dir, 'default', false)).map((r) => r.sourceId);
    expect(ids.filter((id) => documents.includes(id))).toEqual([]);
  });

  it('is the reader FORMAT_READERS lists for llamaindex', () => {
    expect(FORMAT_READERS.filter((r) => r.format === 'llamaindex')).toEqual([llamaIndexReader]);
  });

  it('does not claim FAISS or Chroma stores', async () => {
    for (const dir of ['faiss/007kakashi__FAQ_llm/faiss_index', 'chroma/AnveshaM__convfinqa_chatbot/chroma']) {
      expect(await llamaIndexReader.matches(path.join(REAL, dir))).toBe(false);
    }
    expect(await llamaIndexReader.matches(path.join(REAL, 'does-not-exist'))).toBe(false);
  });
});

describe('Python-written fixtures', () => {
  it('two namespaces are two collections, in file order, integer-like ids included', async () => {
    const dir = path.join(FIXTURES, 'two-namespaces');
    await expectSameAsPython(dir);
    const inspection = await llamaIndexReader.inspect(dir);
    expect(inspection.collections).toEqual([
      { name: 'default', records: 3, dimensions: 4 },
      { name: 'image', records: 2, dimensions: 3 },
    ]);
    const ids = (await collect(dir, 'default', false)).map((r) => r.sourceId);
    expect(ids).toEqual(['b-node', '7', '2']);
  });

  it('a "__proto__" metadata key stays an ordinary key and pollutes nothing', async () => {
    const [first] = await collect(path.join(FIXTURES, 'two-namespaces'), 'default', true);
    expect(Object.keys(first?.metadata ?? {})).toContain('__proto__');
    expect(Object.getPrototypeOf(first?.metadata)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('FaissVectorStore over IndexFlatIP: positions map to nodes through nodes_dict', async () => {
    const dir = path.join(FIXTURES, 'faiss-ip');
    await expectSameAsPython(dir);
    expect((await collect(dir, 'default', false)).map((r) => r.sourceId)).toEqual(['f2', 'f0', 'f1']);
  });

  it('the real FaissVectorStore (IndexFlatL2) reads all 15 nodes the docstore holds', async () => {
    const records = await collect(path.join(REAL, 'llamaindex-py/DekkaSridhar__Llama-Index-RAG/storage'), 'default', true);
    expect(records).toHaveLength(15);
    expect(new Set(records.map((r) => r.sourceId)).size).toBe(15);
  });

  it('a FAISS index of another type is refused, naming its fourcc', async () => {
    const error = await inspectError(path.join(FIXTURES, 'faiss-hnsw'));
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain("'IHNf'");
    expect(error.message).toContain('default__vector_store.json');
  });

  it('property-graph entity embeddings are skipped with a warning, the text chunk is read', async () => {
    const dir = path.join(FIXTURES, 'property-graph');
    const ref = await expectSameAsPython(dir);
    expect(ref.skipped.default).toBe(2);
    const inspection = await llamaIndexReader.inspect(dir);
    expect(inspection.collections).toEqual([{ name: 'default', records: 1, dimensions: 4 }]);
    expect(inspection.warnings).toContain('2 embeddings in default__vector_store.json are property-graph entities (property_graph_store.json), not documents: skipped');
  });

  it('a node the vector index lists without an embedding: E_FORMAT naming the node and index_store.json', async () => {
    const error = await inspectError(path.join(FIXTURES, 'node-without-embedding'));
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain('"n3"');
    expect(error.message).toContain('index_store.json');
  });

  it('ragged vectors, or a value beyond float32 (1e39, Python-written): E_VECTOR naming the node', async () => {
    for (const [fixture, node] of [['ragged', '"n2"'], ['beyond-float32', '"n2"']] as const) {
      const error = await inspectError(path.join(FIXTURES, fixture));
      expect(error.code).toBe('E_VECTOR');
      expect(error.message).toContain(node);
      expect(error.message).toContain('default__vector_store.json');
    }
  });

  it('an embedding whose node the docstore lacks: E_FORMAT naming the node and both files', async () => {
    const dir = path.join(FIXTURES, 'id-mismatch');
    for (const error of [await inspectError(dir), await codeOf(collect(dir, 'default', false))]) {
      expect(error.code).toBe('E_FORMAT');
      expect(error.message).toContain('"stray"');
      expect(error.message).toContain('default__vector_store.json');
      expect(error.message).toContain('docstore.json');
    }
  });
});

describe('layouts refused', () => {
  it('a directory with both a Python and a TS docstore: E_FORMAT naming both', async () => {
    const dir = copyOf(path.join(REAL, 'llamaindex-py/ktny__study-llamaindex/storage'));
    cpSync(path.join(REAL, 'llamaindex-ts/PinKevin__ai-cv-evaluator/storage/doc_store.json'), path.join(dir, 'doc_store.json'));
    expect(await llamaIndexReader.matches(dir)).toBe(true);
    const error = await inspectError(dir);
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain('docstore.json');
    expect(error.message).toContain('doc_store.json');
  });

  it('vector_store.json beside default__vector_store.json: E_FORMAT', async () => {
    const dir = copyOf(path.join(REAL, 'llamaindex-py/350915887__rag/storage'));
    cpSync(path.join(dir, 'default__vector_store.json'), path.join(dir, 'vector_store.json'));
    const error = await inspectError(dir);
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain('vector_store.json and default__vector_store.json');
  });

  it('a vector store symlinked to a file outside the store: E_PATH', async () => {
    const dir = copyOf(path.join(REAL, 'llamaindex-py/350915887__rag/storage'));
    const outside = path.join(path.dirname(dir), 'elsewhere.json');
    renameSync(path.join(dir, 'default__vector_store.json'), outside);
    symlinkSync(outside, path.join(dir, 'default__vector_store.json'));
    const error = await inspectError(dir);
    expect(error.code).toBe('E_PATH');
    expect(error.message).toContain('default__vector_store.json');
  });

  it('an unknown namespace: E_FORMAT listing the ones there are', async () => {
    const error = await codeOf(collect(path.join(REAL, 'llamaindex-py/350915887__rag/storage'), 'text', false));
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain('default, image');
  });

  it('a truncated vector store: E_FORMAT', async () => {
    const dir = copyOf(path.join(REAL, 'llamaindex-ts/PinKevin__ai-cv-evaluator/storage'));
    const file = path.join(dir, 'vector_store.json');
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 10));
    const error = await inspectError(dir);
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain('vector_store.json');
  });

  it('a truncated FAISS binary: E_FORMAT', async () => {
    const dir = copyOf(path.join(REAL, 'llamaindex-py/DekkaSridhar__Llama-Index-RAG/storage'));
    const file = path.join(dir, 'default__vector_store.json');
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, 1000));
    const error = await inspectError(dir);
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain('truncated');
  });

  it('a docstore over the size read whole is refused before it is read', async () => {
    const file = path.join(REAL, 'llamaindex-ts/koyeb__example-llamaindex-rag/storage/doc_store.json');
    const error = await codeOf(readBoundedJson(file, 'doc_store.json', 1000));
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain('over the 1000-byte limit');
  });

  it('a missing docstore: not a LlamaIndex store', async () => {
    const dir = copyOf(path.join(REAL, 'llamaindex-py/ktny__study-llamaindex/storage'));
    unlinkSync(path.join(dir, 'docstore.json'));
    expect(await llamaIndexReader.matches(dir)).toBe(false);
    expect((await inspectError(dir)).code).toBe('E_FORMAT');
  });
});
