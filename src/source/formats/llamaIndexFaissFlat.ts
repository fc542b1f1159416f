/**
 * A minimal reader of FAISS IndexFlatL2 / IndexFlatIP files, for LlamaIndex's FaissVectorStore
 * (its default__vector_store.json is `faiss.write_index` output). Private to the LlamaIndex
 * reader until engineer D's FAISS parser (faissIndex.ts) lands; the lead dedupes them.
 *
 * Layout (faiss/impl/index_write.cpp, IndexFlat): fourcc, d:int32, ntotal:int64, two unused
 * int64, is_trained:u8, metric_type:int32 (metric_arg:float32 when metric_type > 1), then the
 * codes vector: n:uint64 float count and n float32, little-endian. Nothing follows.
 */
import { open } from 'node:fs/promises';
import { MigrateError } from '../../errors.js';

export const FLAT_FOURCCS: Record<string, string> = { IxF2: 'IndexFlatL2', IxFI: 'IndexFlatIP' };
/** Larger than any embedding model's output; a header above it is corrupt, not a real index. */
const MAX_DIMENSIONS = 65_536;
const VECTORS_PER_READ = 256;

export interface FlatIndexHeader {
  fourcc: string;
  dimensions: number;
  count: number;
  /** Byte offset of the first float. */
  dataOffset: number;
}

function refuse(label: string, why: string): MigrateError {
  return new MigrateError('E_FORMAT', `${label} ${why}`);
}

export async function readFlatIndexHeader(path: string, label: string): Promise<FlatIndexHeader> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(53);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const fourcc = head.subarray(0, 4).toString('latin1');
    if (bytesRead >= 4 && !Object.hasOwn(FLAT_FOURCCS, fourcc)) {
      throw refuse(label, `is a FAISS index of type ${JSON.stringify(fourcc)}; only IndexFlatL2 (IxF2) and IndexFlatIP (IxFI) are read: re-save the index as a flat index, or re-embed from the docstore texts`);
    }
    if (bytesRead < 45) throw refuse(label, `ends inside its FAISS header (${size} bytes; truncated?)`);
    const dimensions = head.readInt32LE(4);
    const ntotal = head.readBigInt64LE(8);
    const metric = head.readInt32LE(33);
    const dataOffset = metric > 1 ? 41 : 37;
    if (bytesRead < dataOffset + 8) throw refuse(label, `ends inside its FAISS header (${size} bytes; truncated?)`);
    const floats = head.readBigUInt64LE(dataOffset);
    if (dimensions <= 0 || dimensions > MAX_DIMENSIONS) throw refuse(label, `declares ${dimensions} dimensions (corrupt FAISS header)`);
    if (ntotal < 0n || floats !== ntotal * BigInt(dimensions)) {
      throw refuse(label, `declares ${ntotal} vectors of ${dimensions} dimensions but ${floats} stored floats (corrupt FAISS header)`);
    }
    const expected = BigInt(dataOffset + 8) + floats * 4n;
    if (BigInt(size) !== expected) {
      throw refuse(label, `is ${size} bytes, but its FAISS header describes ${expected} (truncated, or data after the index)`);
    }
    return { fourcc, dimensions, count: Number(ntotal), dataOffset: dataOffset + 8 };
  } finally {
    await fh.close();
  }
}

/** The vectors in position order, each checked finite; the file is closed on early return. */
export async function* readFlatIndexVectors(path: string, label: string, header: FlatIndexHeader): AsyncGenerator<Float32Array> {
  const fh = await open(path, 'r');
  try {
    const bytesPerVector = header.dimensions * 4;
    for (let first = 0; first < header.count; first += VECTORS_PER_READ) {
      const n = Math.min(VECTORS_PER_READ, header.count - first);
      const buf = Buffer.alloc(n * bytesPerVector);
      const { bytesRead } = await fh.read(buf, 0, buf.length, header.dataOffset + first * bytesPerVector);
      if (bytesRead !== buf.length) throw refuse(label, `changed while being read (short read at vector ${first})`);
      for (let i = 0; i < n; i++) {
        const vector = new Float32Array(header.dimensions);
        for (let k = 0; k < header.dimensions; k++) {
          const x = buf.readFloatLE(i * bytesPerVector + k * 4);
          if (!Number.isFinite(x)) throw refuse(label, `holds a non-finite value (${x}) in vector ${first + i}`);
          vector[k] = x;
        }
        yield vector;
      }
    }
  } finally {
    await fh.close();
  }
}
