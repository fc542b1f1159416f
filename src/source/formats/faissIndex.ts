import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { MigrateError } from '../../errors.js';

/**
 * faiss's `write_index` format for the two flat indexes (faiss/impl/index_write.cpp):
 *
 *   fourcc        'IxF2' (IndexFlatL2) or 'IxFI' (IndexFlatIP)
 *   d             int32
 *   ntotal        int64
 *   dummy, dummy  int64 x 2 (1 << 20, unused)
 *   is_trained    uint8
 *   metric_type   int32 (METRIC_INNER_PRODUCT 0, METRIC_L2 1); metric_arg float32 only when > 1
 *   codes         WRITEXBVECTOR: uint64 count of float32 values, then count x float32 (little-endian)
 *
 * The header fixes the file's size exactly, so it is checked before any vector is read and the
 * vectors are then streamed a block of rows at a time.
 */

const FLAT: Readonly<Record<string, { metric: FaissMetric; metricType: number }>> = {
  IxF2: { metric: 'l2', metricType: 1 },
  IxFI: { metric: 'inner_product', metricType: 0 },
};

/** What other fourccs are, so a refusal can say what the file holds. */
const KNOWN: Readonly<Record<string, string>> = {
  IxFl: 'IndexFlat with a metric other than L2 or inner product',
  IxHe: 'IndexLSH',
  IxPq: 'IndexPQ',
  IxPQ: 'IndexPQ',
  IxRq: 'IndexResidualQuantizer',
  IxSQ: 'IndexScalarQuantizer',
  IxMp: 'IndexIDMap',
  IxM2: 'IndexIDMap2',
  IxPT: 'IndexPreTransform',
  IxRF: 'IndexRefineFlat',
  IwFl: 'IndexIVFFlat',
  IwFd: 'IndexIVFFlatDedup',
  IwPQ: 'IndexIVFPQ',
  IwQR: 'IndexIVFPQR',
  IwSq: 'IndexIVFScalarQuantizer',
  IwSh: 'IndexIVFSpectralHash',
  IHNf: 'IndexHNSWFlat',
  IHNp: 'IndexHNSWPQ',
  IHNs: 'IndexHNSWSQ',
  IHN2: 'IndexHNSW2Level',
  INSf: 'IndexNSGFlat',
};

const HEADER_BYTES = 4 + 4 + 8 + 8 + 8 + 1 + 4;
/** Far above any embedding model; a larger d is a corrupt header, not a store. */
export const MAX_FAISS_DIMENSIONS = 65_536;
/** Bytes of rows read per block while streaming. */
const BLOCK_BYTES = 1 << 20;

export type FaissMetric = 'l2' | 'inner_product';

export interface FaissFlatIndex {
  readonly path: string;
  readonly fourcc: 'IxF2' | 'IxFI';
  readonly metric: FaissMetric;
  readonly dimensions: number;
  readonly count: number;
  /** File offset of the first float of the first vector. */
  readonly dataOffset: number;
  /** Streams the vectors in row order (row i is faiss id i), each a new Float32Array. */
  vectors(): AsyncGenerator<Float32Array>;
}

function formatError(path: string, message: string): MigrateError {
  return new MigrateError('E_FORMAT', `${basename(path)} (${path}) ${message}`);
}

async function openIndex(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MigrateError('E_MISSING_FILE', `${basename(path)} not found at ${path}: a FAISS store needs the index file faiss.write_index wrote`, { cause: err });
    }
    throw formatError(path, `cannot be opened: ${reason}`);
  }
}

async function readExactly(file: FileHandle, path: string, into: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await file.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw formatError(path, `became shorter while it was being read (at byte ${position + done})`);
    done += bytesRead;
  }
}

function fourccText(bytes: Uint8Array): string {
  const printable = Array.from(bytes).every((b) => b >= 0x20 && b < 0x7f);
  return printable ? String.fromCharCode(...bytes) : `0x${Buffer.from(bytes).toString('hex')}`;
}

function refusal(path: string, fourcc: string): MigrateError {
  const what = KNOWN[fourcc];
  const holds = what === undefined ? `starts with the fourcc '${fourcc}', which is not a faiss index this tool reads` : `holds a faiss ${what} (fourcc '${fourcc}')`;
  return formatError(
    path,
    `${holds}; only IndexFlatL2 ('IxF2') and IndexFlatIP ('IxFI') are read, because only they store the vectors themselves. Re-save the store with a flat index (e.g. faiss.IndexFlatL2, LangChain's default) or migrate from the original documents`,
  );
}

/** Reads and checks the header of a flat faiss index; the vectors are streamed by `vectors()`. */
export async function readFaissFlatIndex(path: string): Promise<FaissFlatIndex> {
  const file = await openIndex(path);
  try {
    const { size } = await file.stat();
    if (size < 4) throw formatError(path, `is ${size} bytes long, too short for a faiss index (truncated?)`);
    const head = new Uint8Array(Math.min(size, HEADER_BYTES + 4 + 8));
    await readExactly(file, path, head, 0);
    const fourcc = fourccText(head.subarray(0, 4));
    const flat = FLAT[fourcc];
    if (flat === undefined) throw refusal(path, fourcc);
    if (size < HEADER_BYTES + 8) throw formatError(path, `is ${size} bytes long, shorter than a flat index header (${HEADER_BYTES + 8} bytes): truncated`);
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const d = view.getInt32(4, true);
    const ntotal = view.getBigInt64(8, true);
    const isTrained = view.getUint8(32);
    const metricType = view.getInt32(33, true);
    if (d <= 0 || d > MAX_FAISS_DIMENSIONS) throw formatError(path, `declares ${d} dimensions (expected 1..${MAX_FAISS_DIMENSIONS}): the header is corrupt`);
    if (ntotal < 0n || ntotal > BigInt(Number.MAX_SAFE_INTEGER)) throw formatError(path, `declares ${ntotal} vectors: the header is corrupt`);
    if (isTrained > 1) throw formatError(path, `has is_trained = ${isTrained} (expected 0 or 1): the header is corrupt`);
    if (metricType !== flat.metricType) {
      throw formatError(path, `is a '${fourcc}' index whose header says metric_type ${metricType} instead of ${flat.metricType}: the header is corrupt`);
    }
    const count = Number(ntotal);
    const floats = view.getBigUint64(HEADER_BYTES, true);
    const expectedFloats = BigInt(count) * BigInt(d);
    if (floats !== expectedFloats) {
      throw formatError(path, `declares ${floats} stored floats for ${count} vectors of ${d} dimensions (${expectedFloats} expected): the file is corrupt`);
    }
    const dataOffset = HEADER_BYTES + 8;
    // BigInt: a corrupt ntotal times d can pass 2^53.
    const expectedBytes = BigInt(dataOffset) + expectedFloats * 4n;
    if (BigInt(size) !== expectedBytes) {
      const why = BigInt(size) < expectedBytes ? 'truncated' : 'followed by bytes faiss never writes';
      throw formatError(path, `is ${size} bytes long but its header describes ${expectedBytes} bytes (${count} vectors of ${d} float32): ${why}`);
    }
    return {
      path,
      fourcc: fourcc as 'IxF2' | 'IxFI',
      metric: flat.metric,
      dimensions: d,
      count,
      dataOffset,
      vectors: () => streamVectors(path, d, count, dataOffset, size),
    };
  } finally {
    await file.close();
  }
}

async function* streamVectors(path: string, d: number, count: number, dataOffset: number, expectedSize: number): AsyncGenerator<Float32Array> {
  const file = await openIndex(path);
  try {
    const { size } = await file.stat();
    if (size !== expectedSize) throw formatError(path, `changed size since its header was read (${size} bytes instead of ${expectedSize})`);
    const rowBytes = d * 4;
    const rowsPerBlock = Math.max(1, Math.floor(BLOCK_BYTES / rowBytes));
    for (let row = 0; row < count; row += rowsPerBlock) {
      const rows = Math.min(rowsPerBlock, count - row);
      const block = new Uint8Array(rows * rowBytes);
      await readExactly(file, path, block, dataOffset + row * rowBytes);
      const view = new DataView(block.buffer);
      for (let r = 0; r < rows; r++) {
        const vector = new Float32Array(d);
        const base = r * rowBytes;
        for (let k = 0; k < d; k++) {
          const value = view.getFloat32(base + 4 * k, true);
          if (!Number.isFinite(value)) {
            throw new MigrateError('E_VECTOR', `${basename(path)} (${path}): vector ${row + r} holds ${value} at dimension ${k}; a stored vector must be finite`);
          }
          vector[k] = value;
        }
        yield vector;
      }
    }
  } finally {
    await file.close();
  }
}
