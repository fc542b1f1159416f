import { open, readdir } from 'node:fs/promises';
import { MigrateError } from '../../errors.js';
import { unpickleData } from './dataPickle.js';
import { readFaissFlatIndex, type FaissFlatIndex } from './faissIndex.js';
import { LANGCHAIN_CLASSES, langchainDocstore, type LangchainDocstore } from './langchainDocstore.js';
import { resolveStoreFile } from './storeFile.js';
import type { FormatInspection, FormatReader, FormatRecord } from './types.js';

/**
 * LangChain `FAISS.save_local(folder)` stores: `index.faiss` (faiss.write_index of an
 * IndexFlatL2 / IndexFlatIP) and `index.pkl` (the docstore and the position -> id map). Row i
 * of the index is the vector of the document index_to_docstore_id[i].
 */

export const FAISS_INDEX_FILE = 'index.faiss';
export const FAISS_DOCSTORE_FILE = 'index.pkl';

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
    throw new MigrateError('E_FORMAT', `${FAISS_DOCSTORE_FILE} (${path}) cannot be opened: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  });
  try {
    const { size } = await file.stat();
    if (size === 0) throw new MigrateError('E_FORMAT', `${FAISS_DOCSTORE_FILE} (${path}) is empty (0 bytes); restore it from a backup or re-save the store`);
    if (size > maxBytes) {
      throw new MigrateError(
        'E_FORMAT',
        `${FAISS_DOCSTORE_FILE} (${path}) is ${size} bytes, over the ${maxBytes}-byte limit for a docstore read into memory; raise maxDocstoreBytes if the machine has the memory for it`,
      );
    }
    const bytes = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await file.read(bytes, done, size - done, done);
      if (bytesRead === 0) throw new MigrateError('E_FORMAT', `${FAISS_DOCSTORE_FILE} (${path}) became shorter while it was being read`);
      done += bytesRead;
    }
    return bytes;
  } finally {
    await file.close();
  }
}

export function createFaissReader(overrides: Partial<FaissReaderOptions> = {}): FormatReader {
  const options: FaissReaderOptions = { ...DEFAULT_FAISS_READER_OPTIONS, ...overrides };

  async function openStore(dir: string): Promise<OpenedStore> {
    const indexPath = await resolveStoreFile(dir, FAISS_INDEX_FILE);
    const pklPath = await resolveStoreFile(dir, FAISS_DOCSTORE_FILE);
    const index = await readFaissFlatIndex(indexPath);
    const label = `${FAISS_DOCSTORE_FILE} (${pklPath})`;
    const top = unpickleData(await readDocstoreBytes(pklPath, options.maxDocstoreBytes), { file: label, classes: LANGCHAIN_CLASSES, maxHeldBytes: options.maxHeldBytes });
    const docstore = langchainDocstore(label, top, options.maxHeldBytes);
    if (index.count !== docstore.mappingCount) {
      throw new MigrateError(
        'E_FORMAT',
        `${dir}: ${FAISS_INDEX_FILE} holds ${index.count} vectors but ${FAISS_DOCSTORE_FILE}'s index_to_docstore_id maps ${docstore.mappingCount} positions (and its docstore holds ${docstore.docstoreCount} documents); the two files do not belong together`,
      );
    }
    return { index, docstore };
  }

  return {
    format: 'faiss',

    async matches(dir: string): Promise<boolean> {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return false;
      }
      return names.includes(FAISS_INDEX_FILE) && names.includes(FAISS_DOCSTORE_FILE);
    },

    async inspect(dir: string): Promise<FormatInspection> {
      const { index } = await openStore(dir);
      for await (const _vector of index.vectors()) {
        // Each vector is checked (finite) as it is read; nothing is kept.
      }
      return {
        format: 'faiss',
        collections: [{ name: '', records: index.count, dimensions: index.count === 0 ? null : index.dimensions }],
        files: [FAISS_INDEX_FILE, FAISS_DOCSTORE_FILE],
        warnings: [],
      };
    },

    async *records(dir: string, collection: string, { withVectors }: { withVectors: boolean }): AsyncGenerator<FormatRecord> {
      if (collection !== '') throw new MigrateError('E_FORMAT', `${dir}: a FAISS store has one unnamed collection (''), not ${JSON.stringify(collection)}`);
      const { index, docstore } = await openStore(dir);
      const vectors = withVectors ? index.vectors() : null;
      try {
        for (const [position, doc] of docstore.documents.entries()) {
          let vector: Float32Array | null = null;
          if (vectors !== null) {
            const next = await vectors.next();
            if (next.done === true) throw new MigrateError('E_FORMAT', `${dir}: ${FAISS_INDEX_FILE} ended before vector ${position}`);
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
