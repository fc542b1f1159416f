import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FormatCollection, FormatInspection, FormatReader, FormatRecord } from '../types.js';
import { readCatalog, type Catalog, type ChromaCollection } from './catalog.js';
import { readDocuments, type ChromaDocument } from './documents.js';
import { entryKind, segmentFolder } from './paths.js';
import { DEFAULT_MAX_DATABASE_BYTES, formatError, openChromaDb, type ChromaDb } from './sqlite.js';
import { collectionVectors, SEGMENT_FILES } from './vectors.js';

/**
 * Chroma PersistentClient directories: chroma.sqlite3 plus one folder per HNSW segment. Each
 * Chroma collection is a reader collection; texts and metadata come from the METADATA segment
 * (embeddings + embedding_metadata), vectors from the persisted HNSW segment and the WAL.
 */

export const DATABASE_FILE = 'chroma.sqlite3';

export interface ChromaReaderOptions {
  /** Ceiling on chroma.sqlite3's size (sql.js holds it in memory). */
  maxDatabaseBytes?: number;
}

interface LoadedCollection {
  documents: ChromaDocument[];
  vectors: Map<string, Float32Array> | null;
  dimensions: number | null;
  warnings: string[];
}

export function createChromaReader(options: ChromaReaderOptions = {}): FormatReader {
  const maxBytes = options.maxDatabaseBytes ?? DEFAULT_MAX_DATABASE_BYTES;

  async function withStore<T>(dir: string, use: (db: ChromaDb, catalog: Catalog) => Promise<T>): Promise<T> {
    const path = join(dir, DATABASE_FILE);
    if ((await entryKind(path, DATABASE_FILE)) !== 'file') throw formatError(DATABASE_FILE, 'is missing: not a Chroma persistent directory');
    // SQLite's own journal: committed writes that are not in chroma.sqlite3 yet. Reading without
    // them would miss data, and replaying them would mean writing.
    const journal = `${DATABASE_FILE}-wal`;
    if ((await entryKind(join(dir, journal), journal)) === 'file') {
      const { size } = await stat(join(dir, journal));
      if (size > 0) {
        throw formatError(journal, `holds ${size} bytes of SQLite writes not yet in ${DATABASE_FILE} (Chroma was running or stopped abruptly); stop Chroma, open the store once with chromadb on a copy, and migrate the copy`);
      }
    }
    const db = await openChromaDb(path, DATABASE_FILE, maxBytes);
    try {
      return await use(db, readCatalog(db, DATABASE_FILE));
    } finally {
      db.close();
    }
  }

  async function load(db: ChromaDb, dir: string, catalog: Catalog, collection: ChromaCollection, withVectors: boolean): Promise<LoadedCollection> {
    const { documents, warnings } = readDocuments(db, collection.metadataSegment, catalog.hasMetadataArrays, DATABASE_FILE);
    const what = `collection ${JSON.stringify(collection.name)}`;
    const untexted = documents.filter((d) => d.text === null).length;
    if (untexted > 0) warnings.push(`${what}: ${untexted} of ${documents.length} records have no document (chroma:document); their text is empty`);
    if (!withVectors) return { documents, vectors: null, dimensions: collection.dimension, warnings };
    const { vectors } = await collectionVectors(db, dir, collection, DATABASE_FILE);
    const withoutVector = documents.find((d) => !vectors.has(d.sourceId));
    const ids = new Set(documents.map((d) => d.sourceId));
    const withoutDocument = [...vectors.keys()].find((id) => !ids.has(id));
    if (withoutVector !== undefined || withoutDocument !== undefined || ids.size !== documents.length) {
      throw formatError(
        DATABASE_FILE,
        `${what} is inconsistent: ${documents.length} records in its metadata segment, ${vectors.size} live vectors after replaying the HNSW segment and the WAL` +
          (withoutVector !== undefined ? `; ${JSON.stringify(withoutVector.sourceId)} has no vector` : '') +
          (withoutDocument !== undefined ? `; ${JSON.stringify(withoutDocument)} has a vector but no record` : '') +
          ' (was Chroma stopped in the middle of a write?); open it once with chromadb on a copy and migrate the copy',
      );
    }
    let dimensions: number | null = collection.dimension;
    for (const [id, v] of vectors) {
      dimensions ??= v.length;
      if (v.length !== dimensions) throw formatError(DATABASE_FILE, `${what}: the vector of ${JSON.stringify(id)} has ${v.length} dimensions, the collection ${dimensions}`);
      if (!allFinite(v)) throw formatError(DATABASE_FILE, `${what}: the vector of ${JSON.stringify(id)} holds a value that is not finite`);
    }
    return { documents, vectors, dimensions, warnings };
  }

  return {
    format: 'chroma',

    async matches(dir) {
      try {
        return (await readdir(dir)).includes(DATABASE_FILE);
      } catch {
        return false;
      }
    },

    async inspect(dir): Promise<FormatInspection> {
      return withStore(dir, async (db, catalog) => {
        const collections: FormatCollection[] = [];
        const warnings: string[] = [];
        const files = [DATABASE_FILE];
        for (const collection of catalog.collections) {
          const loaded = await load(db, dir, catalog, collection, true);
          collections.push({ name: collection.name, records: loaded.documents.length, dimensions: loaded.dimensions });
          warnings.push(...loaded.warnings);
          if (collection.vectorSegment !== null) {
            const folder = segmentFolder(dir, collection.vectorSegment, DATABASE_FILE);
            for (const f of SEGMENT_FILES) {
              if ((await entryKind(join(folder, f), `${collection.vectorSegment}/${f}`)) === 'file') files.push(`${collection.vectorSegment}/${f}`);
            }
          }
        }
        return { format: 'chroma', collections, files, warnings };
      });
    },

    async *records(dir, name, options): AsyncGenerator<FormatRecord> {
      const loaded = await withStore(dir, async (db, catalog) => {
        const collection = catalog.collections.find((c) => c.name === name);
        if (collection === undefined) throw formatError(DATABASE_FILE, `has no collection named ${JSON.stringify(name)}`);
        return load(db, dir, catalog, collection, options.withVectors);
      });
      let position = 0;
      for (const doc of loaded.documents) {
        yield {
          sourceId: doc.sourceId,
          position: position++,
          text: doc.text ?? '',
          metadata: doc.metadata,
          vector: loaded.vectors === null ? null : (loaded.vectors.get(doc.sourceId) ?? null),
        };
      }
    },
  };
}

export const chromaReader: FormatReader = createChromaReader();

// A plain loop: Array.prototype.every with a callback costs seconds on a few hundred thousand vectors.
function allFinite(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return false;
  return true;
}
