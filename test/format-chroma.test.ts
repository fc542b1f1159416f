/**
 * The Chroma reader against the three real Chroma stores (0.4, 0.5/0.6 and 1.x schemas), each
 * compared with an independent reading by Python's sqlite3 (scripts/read_chroma.py): live ids
 * after the WAL replay, texts byte-exact, metadata, float32 vectors, and the counts SOURCES.json
 * measured. The store is only read: every file's bytes and mtime are the same afterwards.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chromaReader, FORMAT_READERS } from '../src/source/formats/index.js';
import { fingerprint, readAll, readWithPython, vectorHex } from './helpers/chroma.js';
import { SHARED_TESTDATA } from './helpers/paths.js';

const REAL = join(SHARED_TESTDATA, 'real-stores');

interface Source {
  format: string;
  local_dir: string;
  facts: { live_ids_after_wal_replay: number; dimensions: number[]; collections: { name: string }[]; embeddings_queue_operations: Record<string, number> };
}
const stores = (JSON.parse(readFileSync(join(REAL, 'SOURCES.json'), 'utf8')) as { stores: Source[] }).stores.filter((s) => s.format === 'chroma');

describe('Chroma reader on the real stores', () => {
  it('covers the three schema generations', () => {
    expect(stores).toHaveLength(3);
    // Not toContain: chai pretty-prints a reader by calling its `inspect` method (a legacy custom-inspect hook).
    expect(FORMAT_READERS.includes(chromaReader)).toBe(true);
  });

  for (const store of stores) {
    const dir = join(REAL, store.local_dir);
    describe(store.local_dir, () => {
      it('matches the directory', async () => {
        expect(await chromaReader.matches(dir)).toBe(true);
        expect(await chromaReader.matches(join(dir, '..'))).toBe(false);
      });

      it('inspects the counts and dimensions SOURCES.json measured, changing no byte or mtime', async () => {
        const before = fingerprint(dir);
        const inspection = await chromaReader.inspect(dir);
        expect(inspection.format).toBe('chroma');
        expect(inspection.collections).toEqual(
          store.facts.collections.map((c) => ({ name: c.name, records: store.facts.live_ids_after_wal_replay, dimensions: store.facts.dimensions[0] })),
        );
        expect(inspection.files).toContain('chroma.sqlite3');
        expect(inspection.warnings).toEqual([]);
        await readAll(chromaReader, dir, store.facts.collections[0]?.name ?? '', true);
        expect(fingerprint(dir)).toEqual(before);
      });

      it('yields what Python reads: ids in order, texts byte-exact, metadata, float32 vectors', async () => {
        const python = readWithPython(dir);
        for (const [name, expected] of Object.entries(python)) {
          const got = await readAll(chromaReader, dir, name, true);
          expect(got.map((r) => r.position)).toEqual(expected.records.map((_r, i) => i));
          expect(got.map((r) => r.sourceId)).toEqual(expected.records.map((r) => r.id));
          expect(got.map((r) => Buffer.from(r.text, 'utf8').toString('hex'))).toEqual(expected.records.map((r) => Buffer.from(r.text ?? '', 'utf8').toString('hex')));
          expect(got.map((r) => r.metadata)).toEqual(expected.records.map((r) => r.metadata));
          expect(got.map((r) => vectorHex(r.vector))).toEqual(expected.records.map((r) => r.vector));
          expect(expected.records.every((r) => r.vector !== null && r.text !== null)).toBe(true);
          expect(got).toHaveLength(store.facts.live_ids_after_wal_replay);

          const textsOnly = await readAll(chromaReader, dir, name, false);
          expect(textsOnly.map((r) => r.vector)).toEqual(got.map(() => null));
          expect(textsOnly.map((r) => r.text)).toEqual(got.map((r) => r.text));
        }
      });
    });
  }

  it('replays ADD, DELETE and re-ADD of the same ids (the 1.x store) to one live record each', async () => {
    const store = stores.find((s) => s.facts.embeddings_queue_operations['3'] !== undefined);
    expect(store?.facts.embeddings_queue_operations).toEqual({ '0': 80, '3': 40 });
    const records = await readAll(chromaReader, join(REAL, store?.local_dir ?? ''), 'API_Git', true);
    expect(new Set(records.map((r) => r.sourceId)).size).toBe(40);
  });

  it('refuses a collection the store does not have', async () => {
    const dir = join(REAL, stores[0]?.local_dir ?? '');
    await expect(readAll(chromaReader, dir, 'no such collection', false)).rejects.toMatchObject({ code: 'E_FORMAT' });
  });
});
