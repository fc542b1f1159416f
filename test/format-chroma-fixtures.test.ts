/**
 * The Chroma reader on what the real stores lack, written by Python (scripts/make-chroma-fixtures.py):
 * persisted HNSW segments (cosine with length.bin, l2; shuffled labels, a deleted slot,
 * uninitialised preallocated slots), index_metadata.pickle as Python Chroma and Chroma 1.x write
 * it, WAL rows after the segment's max_seq_id (integer and 8-byte BLOB), update/delete-heavy WAL
 * replay, and the refusals: hostile pickle, missing id map, inconsistent stores, paths out of the store.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chromaReader, createChromaReader } from '../src/source/formats/index.js';
import { fingerprint, readAll, readWithPython, vectorHex } from './helpers/chroma.js';
import { REPO } from './helpers/paths.js';

const FIXTURES = join(REPO, 'fixtures/chroma');
const COSINE = join(FIXTURES, 'hnsw-cosine-1x');
const L2 = join(FIXTURES, 'hnsw-l2-wal-05');
const COSINE_SEGMENT = '04d73b01-5cb5-48fd-8987-aa77b62e459a';
const L2_SEGMENT = '7538b427-1de9-49a1-9c76-c2fd8de047b3';
const ORIGINAL = 'a7d2e0df-d57d-4f79-ade1-bdb3a73219f2';

const work = mkdtempSync(join(tmpdir(), 'chroma-fixtures-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let copies = 0;
function copyOf(dir: string): string {
  const dest = join(work, `copy-${copies++}`);
  cpSync(dir, dest, { recursive: true });
  return dest;
}
function sql(dir: string, statements: string): void {
  execFileSync('python3', ['-c', 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()', join(dir, 'chroma.sqlite3'), statements]);
}
async function expectRefusal(dir: string, code: string, message: RegExp): Promise<void> {
  await expect(chromaReader.inspect(dir)).rejects.toMatchObject({ code, message: expect.stringMatching(message) as unknown });
}

async function expectSameAsPython(dir: string): Promise<void> {
  const python = readWithPython(dir);
  const inspection = await chromaReader.inspect(dir);
  expect(inspection.collections.map((c) => [c.name, c.records])).toEqual(Object.entries(python).map(([n, v]) => [n, v.records.length]));
  for (const [name, expected] of Object.entries(python)) {
    const got = await readAll(chromaReader, dir, name, true);
    expect(got.map((r) => r.sourceId)).toEqual(expected.records.map((r) => r.id));
    expect(got.map((r) => r.text)).toEqual(expected.records.map((r) => r.text));
    expect(got.map((r) => r.metadata)).toEqual(expected.records.map((r) => r.metadata));
    expect(got.map((r) => vectorHex(r.vector))).toEqual(expected.records.map((r) => r.vector));
    expect(expected.live_vectors).toBe(expected.records.length);
  }
}

function walVector(dir: string, seqId: number): string {
  return execFileSync('python3', ['-c', 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select hex(vector) from embeddings_queue where seq_id=?", (int(sys.argv[2]),)).fetchone()[0].lower())', join(dir, 'chroma.sqlite3'), String(seqId)], { encoding: 'utf8' }).trim();
}

function floatsOf(hex: string): Float32Array {
  const bytes = Uint8Array.from(Buffer.from(hex, 'hex'));
  const view = new DataView(bytes.buffer);
  return Float32Array.from({ length: bytes.length / 4 }, (_x, i) => view.getFloat32(i * 4, true));
}

describe('persisted HNSW segment, cosine, Chroma 1.x schema (integer seq_ids)', () => {
  it('yields what Python reads from the segment files and the WAL after max_seq_id', async () => {
    const before = fingerprint(COSINE);
    await expectSameAsPython(COSINE);
    expect(fingerprint(COSINE)).toEqual(before);
  });

  it('takes persisted vectors from the segment, not from the WAL rows it already holds, and applies the later ones', async () => {
    const records = new Map((await readAll(chromaReader, COSINE, 'API_Git', true)).map((r) => [r.sourceId, r]));
    expect(records.size).toBe(39);
    // API_Git_chunk_3 was re-added at seq_id 84 and persisted with its first component negated.
    const persisted = records.get('API_Git_chunk_3')?.vector ?? new Float32Array();
    const fromWal = floatsOf(walVector(COSINE, 84));
    expect(persisted).toHaveLength(384);
    expect(persisted[0]).toBeCloseTo(-(fromWal[0] ?? 0), 5);
    expect(persisted[1]).toBeCloseTo(fromWal[1] ?? 0, 5);
    expect(vectorHex(persisted)).not.toBe(walVector(COSINE, 84));
    // After max_seq_id 100: chunk_0 UPDATEd (121), chunk_7 DELETEd (123), chunk_9's vector kept by a metadata-only UPDATE.
    expect(vectorHex(records.get('API_Git_chunk_0')?.vector ?? null)).toBe(walVector(COSINE, 121));
    expect(vectorHex(records.get('API_Git_chunk_5')?.vector ?? null)).toBe(walVector(COSINE, 122));
    expect(records.has('API_Git_chunk_7')).toBe(false);
    expect(records.get('API_Git_chunk_9')?.metadata).toEqual({ chunk_index: 9, doc_id: 'renamed' });
    expect(vectorHex(records.get('API_Git_chunk_11')?.vector ?? null)).not.toBe(walVector(COSINE, 125));
    // chunk_30 was added at seq_id 111, after the persist: from the WAL as stored.
    expect(vectorHex(records.get('API_Git_chunk_30')?.vector ?? null)).toBe(walVector(COSINE, 111));
  });

  it('lists the segment files among the files the records come from', async () => {
    const { files } = await chromaReader.inspect(COSINE);
    expect(files).toEqual(['chroma.sqlite3', ...['header.bin', 'data_level0.bin', 'length.bin', 'link_lists.bin', 'index_metadata.pickle'].map((f) => `${COSINE_SEGMENT}/${f}`)]);
  });
});

describe('persisted HNSW segment, l2, 0.5/0.6 schema (8-byte BLOB seq_ids), update/delete-heavy WAL', () => {
  it('yields what Python reads: texts byte-exact (a NUL, astral characters), typed metadata, replayed vectors', async () => {
    await expectSameAsPython(L2);
    const records = await readAll(chromaReader, L2, 'langchain', true);
    expect(records.map((r) => r.sourceId)).toEqual([ORIGINAL, 'a', 'b', 'd']);
    expect(records[2]?.text).toBe('line one\nline two\ttabbed \u00a0nbsp \u0000 after a NUL');
    expect(records[1]?.metadata).toEqual({ source: 'a.pdf', page: -2000, score: 2 / 3, reviewed: false });
    expect(records[2]?.metadata.reviewed).toBe(true);
    // a: ADD 4, UPDATE 7, ADD 11 ignored; b: ADD 5, UPSERT 8, vector-less UPDATE 14; the original: UPDATE 15 over the segment.
    expect(records.map((r) => vectorHex(r.vector))).toEqual([walVector(L2, 15), walVector(L2, 7), walVector(L2, 8), walVector(L2, 9)]);
  });

  it('replays the whole WAL when the segment was never persisted (no id map, no max_seq_id row)', async () => {
    const dir = copyOf(L2);
    rmSync(join(dir, L2_SEGMENT), { recursive: true });
    sql(dir, `DELETE FROM max_seq_id WHERE segment_id = '${L2_SEGMENT}'`);
    await expectSameAsPython(dir);
    const records = await readAll(chromaReader, dir, 'langchain', true);
    expect(vectorHex(records[0]?.vector ?? null)).toBe(walVector(L2, 15));
  });

  it('reads a PersistentData id map pickled by Python with protocols 2 to 5', async () => {
    const dir = copyOf(L2);
    const target = join(dir, L2_SEGMENT, 'index_metadata.pickle');
    const writer = [
      'import pickle, sys, types',
      "m = types.ModuleType('chromadb.segment.impl.vector.local_persistent_hnsw')",
      'class PersistentData: pass',
      'PersistentData.__module__ = m.__name__',
      'm.PersistentData = PersistentData',
      "for name in ('chromadb', 'chromadb.segment', 'chromadb.segment.impl', 'chromadb.segment.impl.vector'): sys.modules[name] = types.ModuleType(name)",
      'sys.modules[m.__name__] = m',
      'p = PersistentData()',
      `p.__dict__.update(dimensionality=768, total_elements_added=2, max_seq_id=3, id_to_label={'${ORIGINAL}': 1}, label_to_id={1: '${ORIGINAL}'}, id_to_seq_id={'${ORIGINAL}': 1})`,
      "open(sys.argv[1], 'wb').write(pickle.dumps(p, int(sys.argv[2])))",
    ].join('\n');
    const expected = JSON.stringify(readWithPython(L2));
    for (const protocol of [2, 3, 4, 5]) {
      execFileSync('python3', ['-c', writer, target, String(protocol)]);
      expect(JSON.stringify(readWithPython(dir))).toBe(expected);
      await expectSameAsPython(dir);
    }
  });

  it('reads a record without a document as an empty text, with a warning', async () => {
    const dir = copyOf(L2);
    sql(dir, "DELETE FROM embedding_metadata WHERE id = 2 AND key = 'chroma:document'");
    const inspection = await chromaReader.inspect(dir);
    expect(inspection.warnings).toEqual(['collection "langchain": 1 of 4 records have no document (chroma:document); their text is empty']);
    const records = await readAll(chromaReader, dir, 'langchain', true);
    expect(records[1]?.sourceId).toBe('a');
    expect(records[1]?.text).toBe('');
  });

  it('reads the id map Chroma 1.x writes (serde_pickle: a plain dict, protocol 3)', async () => {
    const dir = copyOf(L2);
    cpSync(join(FIXTURES, 'pickles/serde-dict.pickle'), join(dir, L2_SEGMENT, 'index_metadata.pickle'));
    await expectSameAsPython(dir);
  });
});

describe('hostile metadata keys', () => {
  it('keeps a __proto__ key (scalar and 1.x array) as an own property, never as the prototype', async () => {
    const dir = copyOf(COSINE);
    sql(dir, "INSERT INTO embedding_metadata (id, key, string_value) VALUES (1, '__proto__', 'x'); INSERT INTO embedding_metadata_array (id, key, string_value) VALUES (2, '__proto__', 'a'), (2, '__proto__', 'b')");
    const records = await readAll(chromaReader, dir, 'API_Git', false);
    for (const r of records.slice(0, 2)) expect(Object.getPrototypeOf(r.metadata)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(records[0]?.metadata))).toEqual(JSON.parse('{"chunk_index":0,"doc_id":"API_Git","__proto__":"x"}'));
    expect(JSON.stringify(records[1]?.metadata)).toBe('{"chunk_index":1,"doc_id":"API_Git","__proto__":["a","b"]}');
  });
});

describe('SQLite journal modes', () => {
  it('reads a database left in WAL journal mode (cleanly closed), creating no file beside it', async () => {
    const dir = copyOf(L2);
    execFileSync('python3', ['-c', "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); assert c.execute('PRAGMA journal_mode=WAL').fetchone()[0] == 'wal'; c.close()", join(dir, 'chroma.sqlite3')]);
    expect(readFileSync(join(dir, 'chroma.sqlite3'))[18]).toBe(2);
    const before = fingerprint(dir);
    await expectSameAsPython(dir);
    expect(fingerprint(dir)).toEqual(before);
  });
});

describe('refusals', () => {
  it('refuses an id map naming os.system with E_UNSAFE_PICKLE, running nothing', async () => {
    const dir = copyOf(L2);
    cpSync(join(FIXTURES, 'pickles/os-system.pickle'), join(dir, L2_SEGMENT, 'index_metadata.pickle'));
    await expectRefusal(dir, 'E_UNSAFE_PICKLE', /index_metadata\.pickle references the global posix\.system/);
  });

  it('refuses a segment whose header counts elements but whose id map is missing', async () => {
    const dir = copyOf(COSINE);
    unlinkSync(join(dir, COSINE_SEGMENT, 'index_metadata.pickle'));
    await expectRefusal(dir, 'E_FORMAT', /header\.bin: counts 21 elements but index_metadata\.pickle is missing/);
  });

  it('refuses a store whose metadata segment and vectors disagree', async () => {
    const dir = copyOf(L2);
    sql(dir, "DELETE FROM embedding_metadata WHERE id = 3; DELETE FROM embeddings WHERE id = 3");
    await expectRefusal(dir, 'E_FORMAT', /inconsistent: 3 records in its metadata segment, 4 live vectors.*"b" has a vector but no record/);
  });

  it('refuses a segment id that would lead out of the store (E_PATH) and a segment file that is a link', async () => {
    const escaping = copyOf(L2);
    sql(escaping, `UPDATE segments SET id = '../elsewhere' WHERE id = '${L2_SEGMENT}'`);
    await expectRefusal(escaping, 'E_PATH', /segment id "\.\.\/elsewhere" is not a plain folder name/);
    const linked = copyOf(L2);
    const target = join(work, 'outside.pickle');
    cpSync(join(linked, L2_SEGMENT, 'index_metadata.pickle'), target);
    unlinkSync(join(linked, L2_SEGMENT, 'index_metadata.pickle'));
    symlinkSync(target, join(linked, L2_SEGMENT, 'index_metadata.pickle'));
    await expectRefusal(linked, 'E_PATH', /index_metadata\.pickle is a symbolic link/);
  });

  it('refuses a WAL vector in another encoding, and a pending SQLite journal', async () => {
    const int32 = copyOf(L2);
    sql(int32, "UPDATE embeddings_queue SET encoding = 'INT32' WHERE seq_id = 9");
    await expectRefusal(int32, 'E_FORMAT', /row 9 encodes its vector as the text "INT32"; only FLOAT32 is read/);
    const journal = copyOf(L2);
    writeFileSync(join(journal, 'chroma.sqlite3-wal'), Buffer.alloc(4096, 1));
    await expectRefusal(journal, 'E_FORMAT', /chroma\.sqlite3-wal: holds 4096 bytes of SQLite writes/);
  });

  it('refuses a database over the size ceiling, naming its size, and a file that is not SQLite', async () => {
    const small = createChromaReader({ maxDatabaseBytes: 1000 });
    await expect(small.inspect(L2)).rejects.toMatchObject({ code: 'E_FORMAT', message: expect.stringMatching(/chroma\.sqlite3: is \d+ bytes, over the 1000-byte ceiling/) as unknown });
    const garbage = copyOf(L2);
    writeFileSync(join(garbage, 'chroma.sqlite3'), readFileSync(join(L2, 'chroma.sqlite3')).subarray(0, 5000));
    await expectRefusal(garbage, 'E_FORMAT', /chroma\.sqlite3: /);
  });
});
