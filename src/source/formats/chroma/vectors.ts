import { join } from 'node:path';
import type { ChromaCollection } from './catalog.js';
import { readHnswHeader, readHnswVectors } from './hnsw.js';
import { readIndexMetadata } from './indexMetadata.js';
import { entryKind, segmentFolder } from './paths.js';
import { formatError, seqIdOf, type ChromaDb } from './sqlite.js';
import { replayWal } from './wal.js';

export const INDEX_METADATA_FILE = 'index_metadata.pickle';
export const SEGMENT_FILES = ['header.bin', 'data_level0.bin', 'length.bin', 'link_lists.bin', INDEX_METADATA_FILE];

export interface CollectionVectors {
  vectors: Map<string, Float32Array>;
  /** Elements read from the persisted HNSW segment, and WAL rows replayed on top. */
  fromHnsw: number;
  walRows: number;
}

/**
 * A collection's live vectors, as Chroma itself would serve them: the persisted HNSW segment (when
 * index_metadata.pickle exists), then the write-ahead log after the segment's max_seq_id.
 */
export async function collectionVectors(db: ChromaDb, dir: string, collection: ChromaCollection, label: string): Promise<CollectionVectors> {
  let vectors = new Map<string, Float32Array>();
  let after = 0n;
  if (collection.vectorSegment !== null) {
    const folder = segmentFolder(dir, collection.vectorSegment, label);
    const shown = `${label.replace(/chroma\.sqlite3$/, '')}${collection.vectorSegment}`;
    const recorded = db.rows('max_seq_id', [collection.vectorSegment])[0];
    const maxSeqId = recorded === undefined ? null : seqIdOf(recorded.seq_id ?? null, label);
    const hasFolder = (await entryKind(folder, shown)) === 'dir';
    const hasMetadata = hasFolder && (await entryKind(join(folder, INDEX_METADATA_FILE), `${shown}/${INDEX_METADATA_FILE}`)) === 'file';
    if (hasMetadata) {
      for (const f of SEGMENT_FILES) await entryKind(join(folder, f), `${shown}/${f}`);
      const header = await readHnswHeader(folder, shown);
      const metadata = await readIndexMetadata(join(folder, INDEX_METADATA_FILE), `${shown}/${INDEX_METADATA_FILE}`);
      if (metadata.dimensionality !== null && metadata.labelToId.size > 0 && metadata.dimensionality !== header.dimensions) {
        throw formatError(`${shown}/${INDEX_METADATA_FILE}`, `says ${metadata.dimensionality} dimensions, header.bin ${header.dimensions}`);
      }
      vectors = await readHnswVectors(folder, header, metadata.labelToId, collection.space === 'cosine', shown);
      after = maxSeqId ?? metadata.maxSeqId ?? 0n;
    } else {
      if (hasFolder) {
        // Without the id map the index must be empty (the real stores: the HNSW sync threshold was never reached).
        const header = (await entryKind(join(folder, 'header.bin'), `${shown}/header.bin`)) === 'file' ? await readHnswHeader(folder, shown) : null;
        if (header !== null && header.elements > 0) {
          throw formatError(`${shown}/header.bin`, `counts ${header.elements} elements but ${INDEX_METADATA_FILE} is missing, so they cannot be matched to ids; copy the whole store again`);
        }
      }
      if (maxSeqId !== null && maxSeqId > 0n) {
        throw formatError(label, `says the vector segment ${collection.vectorSegment} was persisted up to seq_id ${maxSeqId}, but ${shown}/${INDEX_METADATA_FILE} is missing; copy the whole store again`);
      }
    }
  }
  const fromHnsw = vectors.size;
  const wal = collection.topic === null ? { rows: 0 } : replayWal(db, collection.topic, after, vectors, label);
  return { vectors, fromHnsw, walRows: wal.rows };
}
