import type { StoredVector } from '../types.js';
import { pickleError, vectorError } from './fail.js';
import { ITEM_SIZE } from './numpy.js';
import type { ByteReader } from './reader.js';
import type { VectorChecker } from './shape.js';
import { Latin1FromUtf8 } from './text.js';
import type { ArrayData, ArrayState, FileSlice } from './values.js';
import type { DecodeStats } from './vm.js';

/**
 * The raw bytes of array data, in chunks. Data left in the file is read with positional reads
 * (the VM's reader is done by then); protocol 2 text is decoded back to bytes on the fly.
 */
async function* dataChunks(data: ArrayData, reader: ByteReader, chunkBytes: number): AsyncGenerator<Uint8Array> {
  if (data instanceof Uint8Array) {
    yield data;
    return;
  }
  const decoder = data.encoding === 'utf8' ? new Latin1FromUtf8() : null;
  for (let done = 0; done < data.length; ) {
    const chunk = new Uint8Array(Math.min(chunkBytes, data.length - done));
    await reader.readAt(data.offset + done, chunk);
    done += chunk.length;
    const decoded = decoder === null ? chunk : decoder.push(chunk);
    if (decoded === null) throw notLatin1();
    yield decoded;
  }
  if (decoder !== null && !decoder.end()) throw notLatin1();
}

function notLatin1(): Error {
  return pickleError('holds array data as a str that is not latin-1 text (protocol 2 writes bytes as latin-1)');
}

/**
 * The number of bytes a large str argument stands for, checking that it is latin-1 text. Runs
 * before the array is accepted, so a bad or short array fails before any row is produced.
 */
export async function validateSlice(slice: FileSlice, reader: ByteReader, chunkBytes: number): Promise<number> {
  if (slice.encoding === 'raw') return slice.length;
  let total = 0;
  for await (const chunk of dataChunks(slice, reader, chunkBytes)) total += chunk.length;
  return total;
}

/**
 * Streams the rows of the top-level 2-D array as vectors, holding one row (C order) or one block
 * of rows (Fortran order, where a row's values are spread over the whole data) at a time.
 */
export async function* matrixRows(
  state: ArrayState,
  reader: ByteReader,
  checker: VectorChecker,
  options: { chunkBytes: number; maxBlockBytes: number; stats: DecodeStats },
): AsyncGenerator<StoredVector> {
  const [rows = 0, columns = 0] = state.shape;
  const itemSize = ITEM_SIZE[state.kind];
  const rowBytes = columns * itemSize;
  if (rows === 0) {
    checker.emptyMatrix(columns, state.kind);
    return;
  }
  if (columns === 0) throw vectorError(0, 'is empty (the array has 0 columns)');
  const row = (raw: Uint8Array): StoredVector => checker.fromMatrixRow(raw, state.kind, state.littleEndian);

  if (!state.fortran) {
    const pending = new Uint8Array(rowBytes);
    let filled = 0;
    for await (const chunk of dataChunks(state.data, reader, options.chunkBytes)) {
      let at = 0;
      while (at < chunk.length) {
        if (filled === 0 && chunk.length - at >= rowBytes) {
          yield row(chunk.subarray(at, at + rowBytes));
          at += rowBytes;
          continue;
        }
        const take = Math.min(rowBytes - filled, chunk.length - at);
        pending.set(chunk.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === rowBytes) {
          yield row(pending);
          filled = 0;
        }
      }
    }
    return;
  }

  // Fortran order: column j holds rows 0..rows-1 contiguously, so a row's values are spread over
  // the whole data. Rows are produced a block at a time: the block is gathered column-major (one
  // copy per column), then each row is picked out of it.
  const inMemory = state.data instanceof Uint8Array;
  const blockRows = inMemory ? rows : Math.max(1, Math.floor(options.maxBlockBytes / rowBytes));
  const out = new Uint8Array(rowBytes);
  for (let first = 0; first < rows; first += blockRows) {
    const count = Math.min(blockRows, rows - first);
    const block = await gatherColumns(state.data, { rows, columns, itemSize, first, count }, reader, options.chunkBytes);
    options.stats.matrixPasses++;
    const runBytes = count * itemSize;
    for (let i = 0; i < count; i++) {
      for (let j = 0; j < columns; j++) {
        const src = j * runBytes + i * itemSize;
        for (let b = 0; b < itemSize; b++) out[j * itemSize + b] = block[src + b] ?? 0;
      }
      yield row(out);
    }
  }
}

interface BlockSpec {
  rows: number;
  columns: number;
  itemSize: number;
  /** First row of the block, and how many rows. */
  first: number;
  count: number;
}

/** Rows first..first+count of Fortran-order data, column-major: column j at j * count * itemSize. */
async function gatherColumns(data: ArrayData, spec: BlockSpec, reader: ByteReader, chunkBytes: number): Promise<Uint8Array> {
  const { rows, columns, itemSize, first, count } = spec;
  const runBytes = count * itemSize;
  const columnBytes = rows * itemSize;
  const block = new Uint8Array(columns * runBytes);
  if (data instanceof Uint8Array || data.encoding === 'raw') {
    // Each column's run is one contiguous range: copy it, or read just it from the file.
    for (let j = 0; j < columns; j++) {
      const start = j * columnBytes + first * itemSize;
      const target = block.subarray(j * runBytes, (j + 1) * runBytes);
      if (data instanceof Uint8Array) target.set(data.subarray(start, start + runBytes));
      else await reader.readAt(data.offset + start, target);
    }
    return block;
  }
  // Protocol 2 text has no random access: decode it all, keeping the bytes of this block.
  let position = 0;
  for await (const chunk of dataChunks(data, reader, chunkBytes)) {
    const end = position + chunk.length;
    for (let j = Math.floor(position / columnBytes); j < columns; j++) {
      const runStart = j * columnBytes + first * itemSize;
      if (runStart >= end) break;
      const from = Math.max(runStart, position);
      const to = Math.min(runStart + runBytes, end);
      if (from < to) block.set(chunk.subarray(from - position, to - position), j * runBytes + (from - runStart));
    }
    position = end;
  }
  return block;
}
