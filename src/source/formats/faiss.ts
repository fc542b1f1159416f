import { open, readdir } from 'node:fs/promises';
import { basename } from 'node:path';
import { MigrateError } from '../../errors.js';
import { unpickleData } from './dataPickle.js';
import { readFaissFlatIndex, type FaissFlatIndex } from './faissIndex.js';
import { LANGCHAIN_CLASSES, langchainDocstore, type LangchainDocstore } from './langchainDocstore.js';
import { resolveStoreFile } from './storeFile.js';
import type { FormatInspection, FormatReader, FormatRecord } from './types.js';

/**
 * LangChain `FAISS.save_local(folder, index_name="index")` stores: `{index_name}.faiss`
 * (faiss.write_index of an IndexFlatL2 / IndexFlatIP) and `{index_name}.pkl` (the docstore and the
 * position -> id map). Row i of the index is the vector of the document index_to_docstore_id[i].
 * One folder may hold several index names side by side: each pair is a collection, the default
 * name `index` the unnamed one ('', so stores saved with the default keep their names and ids).
 */

/** save_local's default index_name. */
const FAISS_DEFAULT_INDEX = 'index';

/** The index names of a folder's files: every `{name}.faiss` with its `{name}.pkl`, in code-unit order. */
function indexNames(files: readonly string[]): string[] {
  const present = new Set(files);
  return files
    .filter((f) => f.endsWith('.faiss') && f.length > '.faiss'.length && present.has(`${f.slice(0, -'.faiss'.length)}.pkl`))
    .map((f) => f.slice(0, -'.faiss'.length))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function collectionOf(indexName: string): string {
  return indexName === FAISS_DEFAULT_INDEX ? '' : indexName;
}

export interface FaissReaderOptions {
  /**
   * index.pkl must be decoded whole (the position map comes after every document), so its size
   * is bounded before it is read.
   */
  maxDocstoreBytes: number;
  /**
   * Approximate bytes of decoded values index.pkl may make the reader hold, and (separately) that
   * its documents' texts and metadata may expand to once shared references are followed.
   */
  maxHeldBytes: number;
}

export const DEFAULT_FAISS_READER_OPTIONS: Readonly<FaissReaderOptions> = Object.freeze({
  maxDocstoreBytes: 512 << 20,
  maxHeldBytes: 1536 << 20,
});

interface OpenedStore {
  index: FaissFlatIndex;
  docstore: LangchainDocstore;
}

async function readDocstoreBytes(path: string, maxBytes: number): Promise<Uint8Array> {
  const file = await open(path, 'r').catch((error: unknown) => {
    throw new MigrateError('E_FORMAT', `${basename(path)} (${path}) cannot be opened: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  });
  try {
    const { size } = await file.stat();
    if (size === 0) throw new MigrateError('E_FORMAT', `${basename(path)} (${path}) is empty (0 bytes); restore it from a backup or re-save the store`);
    if (size > maxBytes) {
      throw new MigrateError(
        'E_FORMAT',
        `${basename(path)} (${path}) is ${size} bytes, over the ${maxBytes}-byte limit for a docstore read into memory; raise maxDocstoreBytes if the machine has the memory for it`,
      );
    }
    const bytes = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await file.read(bytes, done, size - done, done);
      if (bytesRead === 0) throw new MigrateError('E_FORMAT', `${basename(path)} (${path}) became shorter while it was being read`);
      done += bytesRead;
    }
    return bytes;
  } finally {
    await file.close();
  }
}

export function createFaissReader(overrides: Partial<FaissReaderOptions> = {}): FormatReader {
  const options: FaissReaderOptions = { ...DEFAULT_FAISS_READER_OPTIONS, ...overrides };

  async function listNames(dir: string): Promise<string[]> {
    try {
      return indexNames(await readdir(dir));
    } catch {
      return [];
    }
  }

  async function openStore(dir: string, indexName: string): Promise<OpenedStore> {
    const faissFile = `${indexName}.faiss`;
    const pklFile = `${indexName}.pkl`;
    const indexPath = await resolveStoreFile(dir, faissFile);
    const pklPath = await resolveStoreFile(dir, pklFile);
    const index = await readFaissFlatIndex(indexPath);
    const label = `${pklFile} (${pklPath})`;
    const top = unpickleData(await readDocstoreBytes(pklPath, options.maxDocstoreBytes), { file: label, classes: LANGCHAIN_CLASSES, maxHeldBytes: options.maxHeldBytes });
    const docstore = langchainDocstore(label, top, options.maxHeldBytes);
    if (index.count !== docstore.mappingCount) {
      throw new MigrateError(
        'E_FORMAT',
        `${dir}: ${faissFile} holds ${index.count} vectors but ${pklFile}'s index_to_docstore_id maps ${docstore.mappingCount} positions (and its docstore holds ${docstore.docstoreCount} documents); the two files do not belong together`,
      );
    }
    return { index, docstore };
  }

  return {
    format: 'faiss',

    async matches(dir: string): Promise<boolean> {
      return (await listNames(dir)).length > 0;
    },

    async inspect(dir: string): Promise<FormatInspection> {
      const names = await listNames(dir);
      if (names.length === 0) throw new MigrateError('E_MISSING_FILE', `${dir}: no FAISS index (a {name}.faiss with its {name}.pkl, as save_local writes them)`);
      const collections: FormatInspection['collections'] = [];
      for (const name of names) {
        const { index } = await openStore(dir, name);
        for await (const _vector of index.vectors()) {
          // Each vector is checked (finite) as it is read; nothing is kept.
        }
        collections.push({ name: collectionOf(name), records: index.count, dimensions: index.count === 0 ? null : index.dimensions });
      }
      return { format: 'faiss', collections, files: names.flatMap((n) => [`${n}.faiss`, `${n}.pkl`]), warnings: [] };
    },

    async *records(dir: string, collection: string, { withVectors }: { withVectors: boolean }): AsyncGenerator<FormatRecord> {
      const names = await listNames(dir);
      const indexName = collection === '' ? FAISS_DEFAULT_INDEX : collection;
      // 'index' is the unnamed collection, so only '' names it.
      if (!names.includes(indexName) || collection === FAISS_DEFAULT_INDEX) {
        const have = names.map((n) => JSON.stringify(collectionOf(n))).join(', ');
        throw new MigrateError('E_FORMAT', `${dir}: no FAISS collection ${JSON.stringify(collection)} (an index named ${indexName}); it has ${have || 'none'}`);
      }
      const { index, docstore } = await openStore(dir, indexName);
      const vectors = withVectors ? index.vectors() : null;
      try {
        for (const [position, doc] of docstore.documents.entries()) {
          let vector: Float32Array | null = null;
          if (vectors !== null) {
            const next = await vectors.next();
            if (next.done === true) throw new MigrateError('E_FORMAT', `${dir}: ${indexName}.faiss ended before vector ${position}`);
            vector = next.value;
          }
          yield { sourceId: doc.id, position, text: doc.text, metadata: doc.metadata, vector };
        }
      } finally {
        await vectors?.return(undefined);
      }
    },
  };
}

export const faissReader: FormatReader = createFaissReader();
