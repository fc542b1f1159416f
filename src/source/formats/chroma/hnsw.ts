import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatError } from './sqlite.js';

/**
 * A persisted HNSW segment folder as Chroma's hnswlib fork writes it (persistHeader/persistDirty in
 * hnswalg.h): header.bin, data_level0.bin (one fixed-size slot per element: level-0 links, the
 * float32 vector, the 8-byte label), length.bin (each element's norm, for cosine spaces, where the
 * slot holds the normalized vector) and link_lists.bin (upper levels: not needed to read vectors).
 * Only the first cur_element_count slots are read: the files are preallocated to max_elements
 * slots whose bytes are uninitialised.
 */

export const HEADER_BYTES = 100;
const PERSISTENCE_VERSION = 1;
const DELETE_MARK = 0x01;
/** Slots read per file read. */
const SLOTS_PER_READ = 256;

export interface HnswHeader {
  maxElements: number;
  elements: number;
  slotBytes: number;
  labelOffset: number;
  dataOffset: number;
  dimensions: number;
}

export async function readHnswHeader(folder: string, label: string): Promise<HnswHeader> {
  const path = join(folder, 'header.bin');
  const file = await open(path, 'r');
  const buf = new Uint8Array(HEADER_BYTES);
  try {
    const { size } = await file.stat();
    if (size !== HEADER_BYTES) throw formatError(`${label}/header.bin`, `is ${size} bytes, not the ${HEADER_BYTES} of an hnswlib persistence header`);
    const { bytesRead } = await file.read(buf, 0, HEADER_BYTES, 0);
    if (bytesRead !== HEADER_BYTES) throw formatError(`${label}/header.bin`, 'became shorter while it was being read');
  } finally {
    await file.close();
  }
  const view = new DataView(buf.buffer);
  const bad = (why: string): Error => formatError(`${label}/header.bin`, `${why}: not an hnswlib persisted index this tool reads (corrupt, or another hnswlib build)`);
  const version = view.getInt32(0, true);
  if (version !== PERSISTENCE_VERSION) throw bad(`has persistence version ${version}, not ${PERSISTENCE_VERSION}`);
  const size = (at: number, what: string): number => {
    const v = view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`has ${what} ${v}`);
    return Number(v);
  };
  const offsetLevel0 = size(4, 'offsetLevel0');
  const maxElements = size(12, 'max_elements');
  const elements = size(20, 'cur_element_count');
  const slotBytes = size(28, 'size_data_per_element');
  const labelOffset = size(36, 'label_offset');
  const dataOffset = size(44, 'offsetData');
  const maxM = size(60, 'maxM');
  const maxM0 = size(68, 'maxM0');
  const m = size(76, 'M');
  const vectorBytes = labelOffset - dataOffset;
  // The same consistency rules as Chroma's own loader (rust/segment/src/local_hnsw/persistence.rs).
  if (
    offsetLevel0 !== 0 ||
    maxElements < elements ||
    maxM === 0 ||
    m === 0 ||
    maxM0 < maxM ||
    dataOffset !== maxM0 * 4 + 4 ||
    vectorBytes <= 0 ||
    vectorBytes % 4 !== 0 ||
    labelOffset + 8 !== slotBytes
  ) {
    throw bad(`describes an inconsistent layout (max_elements ${maxElements}, cur_element_count ${elements}, slot ${slotBytes} bytes, data at ${dataOffset}, label at ${labelOffset})`);
  }
  return { maxElements, elements, slotBytes, labelOffset, dataOffset, dimensions: vectorBytes / 4 };
}

/**
 * The vectors of the live elements (not marked deleted), keyed by Chroma id through `labelToId`.
 * `normalized`: the space is cosine, so each slot holds v/|v| and length.bin |v|; Chroma returns
 * v/|v| * |v| in float32, and so does this.
 */
export async function readHnswVectors(
  folder: string,
  header: HnswHeader,
  labelToId: ReadonlyMap<number, string>,
  normalized: boolean,
  label: string,
): Promise<Map<string, Float32Array>> {
  const dataPath = join(folder, 'data_level0.bin');
  const need = header.elements * header.slotBytes;
  const dataSize = (await stat(dataPath)).size;
  if (dataSize < need) throw formatError(`${label}/data_level0.bin`, `is ${dataSize} bytes, shorter than the ${header.elements} elements of ${header.slotBytes} bytes header.bin counts`);
  const lengths = normalized ? await readLengths(folder, header.elements, label) : null;
  const out = new Map<string, Float32Array>();
  const seen = new Set<number>();
  const file = await open(dataPath, 'r');
  try {
    const buf = new Uint8Array(SLOTS_PER_READ * header.slotBytes);
    for (let first = 0; first < header.elements; first += SLOTS_PER_READ) {
      const count = Math.min(SLOTS_PER_READ, header.elements - first);
      const { bytesRead } = await file.read(buf, 0, count * header.slotBytes, first * header.slotBytes);
      if (bytesRead !== count * header.slotBytes) throw formatError(`${label}/data_level0.bin`, 'became shorter while it was being read');
      const view = new DataView(buf.buffer, 0, bytesRead);
      for (let k = 0; k < count; k++) {
        const slot = k * header.slotBytes;
        const element = first + k;
        const hnswLabel = view.getBigUint64(slot + header.labelOffset, true);
        if (hnswLabel > 0xffffffffn) throw formatError(`${label}/data_level0.bin`, `element ${element} has the label ${hnswLabel}, beyond what Chroma assigns`);
        const n = Number(hnswLabel);
        if (seen.has(n)) throw formatError(`${label}/data_level0.bin`, `has the label ${n} twice`);
        seen.add(n);
        if (((view.getUint8(slot + 2) ?? 0) & DELETE_MARK) !== 0) continue;
        const id = labelToId.get(n);
        if (id === undefined) throw formatError(`${label}/data_level0.bin`, `element ${element} has the label ${n}, which index_metadata.pickle does not map to any id`);
        const vector = new Float32Array(header.dimensions);
        const scale = lengths === null ? 1 : (lengths[element] ?? 1);
        for (let d = 0; d < header.dimensions; d++) {
          const x = view.getFloat32(slot + header.dataOffset + 4 * d, true);
          vector[d] = lengths === null ? x : Math.fround(x * scale);
        }
        out.set(id, vector);
      }
    }
  } finally {
    await file.close();
  }
  if (out.size !== labelToId.size) {
    const missing = [...labelToId].find(([l]) => !out.has(labelToId.get(l) ?? ''));
    throw formatError(`${label}/data_level0.bin`, `holds ${out.size} live elements, index_metadata.pickle maps ${labelToId.size} labels${missing === undefined ? '' : ` (label ${missing[0]}, id ${JSON.stringify(missing[1])}, has no live element)`}`);
  }
  return out;
}

async function readLengths(folder: string, elements: number, label: string): Promise<Float32Array> {
  const path = join(folder, 'length.bin');
  let file;
  try {
    file = await open(path, 'r');
  } catch {
    throw formatError(`${label}/length.bin`, 'is missing: a cosine-space HNSW segment needs it to restore the vectors it stored normalized');
  }
  try {
    const bytes = new Uint8Array(elements * 4);
    const { bytesRead } = await file.read(bytes, 0, bytes.length, 0);
    if (bytesRead !== bytes.length) throw formatError(`${label}/length.bin`, `is shorter than the ${elements} lengths header.bin counts`);
    const view = new DataView(bytes.buffer);
    const out = new Float32Array(elements);
    for (let i = 0; i < elements; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  } finally {
    await file.close();
  }
}
