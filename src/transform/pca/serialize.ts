/**
 * The file behind `pca export` / `pca import` (full description in FORMAT.md):
 *
 *   offset 0   8 bytes   magic "PGVMPCA\n"
 *   offset 8   uint32 LE byte length H of the header
 *   offset 12  H bytes   UTF-8 JSON header (dimensions, variance, notes, array table, SHA-256)
 *   ...        zero bytes up to the next multiple of 8
 *   payload    mean (float32 LE x source), components (float32 LE x target*source, row-major),
 *              explainedVariance (float64 LE x target), each starting on a multiple of 8
 *
 * Binary payloads because the components of a 3072 -> 2000 model are 6 million floats (24 MB as
 * float32, several times that as JSON text) and must come back bit for bit, or load-time and
 * query-time projections would drift apart. JSON numbers carry the remaining doubles exactly.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { MigrateError } from '../../errors.js';
import type { PcaModel } from './types.js';

const MAGIC = Buffer.from('PGVMPCA\n', 'latin1');
const FORMAT = 'pgvector-migrate/pca';
const VERSION = 1;
const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

type Dtype = 'float32' | 'float64';

interface ArrayEntry {
  name: 'mean' | 'components' | 'explainedVariance';
  dtype: Dtype;
  length: number;
  /** Byte offset from the start of the file. */
  offset: number;
}

interface Header {
  format: string;
  version: number;
  sourceDimensions: number;
  targetDimensions: number;
  totalVariance: number;
  sampleSize: number;
  method: string;
  notes: string[];
  byteOrder: 'little';
  arrays: ArrayEntry[];
  /** Hex SHA-256 of every byte after the header padding. */
  payloadSha256: string;
}

const align8 = (x: number): number => Math.ceil(x / 8) * 8;

function bytesOf(arr: Float32Array | Float64Array): Buffer {
  if (LITTLE_ENDIAN_HOST) return Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength);
  const out = Buffer.alloc(arr.byteLength);
  arr.forEach((x, i) => (arr instanceof Float32Array ? out.writeFloatLE(x, i * 4) : out.writeDoubleLE(x, i * 8)));
  return out;
}

function invalid(detail: string): MigrateError {
  return new MigrateError('E_CONFIG', `not a valid PCA model file: ${detail}`);
}

export function serializePcaModel(model: PcaModel): Buffer {
  const { sourceDimensions: d, targetDimensions: k } = model;
  if (model.mean.length !== d || model.components.length !== k * d || model.explainedVariance.length !== k) {
    throw new MigrateError('E_USAGE', `PCA model arrays do not match its ${k} x ${d} shape`);
  }
  const parts: { name: ArrayEntry['name']; data: Float32Array | Float64Array }[] = [
    { name: 'mean', data: model.mean },
    { name: 'components', data: model.components },
    { name: 'explainedVariance', data: model.explainedVariance },
  ];
  // Offsets depend on the header's length, which depends on the offsets' digits: lay out the
  // payload relative to its start first, then shift once the header size is known.
  const relative: { entry: Omit<ArrayEntry, 'offset'>; at: number; bytes: Buffer }[] = [];
  let at = 0;
  for (const p of parts) {
    const bytes = bytesOf(p.data);
    relative.push({ entry: { name: p.name, dtype: p.data instanceof Float32Array ? 'float32' : 'float64', length: p.data.length }, at, bytes });
    at = align8(at + bytes.length);
  }
  const payload = Buffer.alloc(at);
  for (const r of relative) r.bytes.copy(payload, r.at);
  const payloadSha256 = createHash('sha256').update(payload).digest('hex');
  const headerFor = (payloadStart: number): Buffer => {
    const header: Header = {
      format: FORMAT,
      version: VERSION,
      sourceDimensions: d,
      targetDimensions: k,
      totalVariance: model.totalVariance,
      sampleSize: model.sampleSize,
      method: model.method,
      notes: [...model.notes],
      byteOrder: 'little',
      arrays: relative.map((r) => ({ ...r.entry, offset: payloadStart + r.at })),
      payloadSha256,
    };
    return Buffer.from(JSON.stringify(header), 'utf8');
  };
  let payloadStart = align8(12 + headerFor(0).length);
  let header = headerFor(payloadStart);
  while (align8(12 + header.length) !== payloadStart) {
    payloadStart = align8(12 + header.length);
    header = headerFor(payloadStart);
  }
  const out = Buffer.alloc(payloadStart + payload.length);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(header.length, 8);
  header.copy(out, 12);
  payload.copy(out, payloadStart);
  return out;
}

function readArray(bytes: Uint8Array, entry: ArrayEntry): Float32Array | Float64Array {
  const width = entry.dtype === 'float32' ? 4 : 8;
  const end = entry.offset + entry.length * width;
  if (!Number.isInteger(entry.offset) || entry.offset % 8 !== 0 || end > bytes.length) throw invalid(`array ${entry.name} lies outside the file`);
  // A fresh, aligned buffer (Buffer#slice would be a view), so the model never aliases the caller's bytes.
  const copy = new Uint8Array(end - entry.offset);
  copy.set(bytes.subarray(entry.offset, end));
  if (LITTLE_ENDIAN_HOST) return entry.dtype === 'float32' ? new Float32Array(copy.buffer) : new Float64Array(copy.buffer);
  const view = new DataView(copy.buffer);
  return entry.dtype === 'float32'
    ? Float32Array.from({ length: entry.length }, (_, i) => view.getFloat32(i * 4, true))
    : Float64Array.from({ length: entry.length }, (_, i) => view.getFloat64(i * 8, true));
}

export function parsePcaModel(bytes: Uint8Array): PcaModel {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 12 || !buf.subarray(0, 8).equals(MAGIC)) throw invalid('missing the PGVMPCA signature');
  const headerLength = buf.readUInt32LE(8);
  if (12 + headerLength > buf.length) throw invalid('truncated header');
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(12, 12 + headerLength).toString('utf8')) as Header;
  } catch (err) {
    throw new MigrateError('E_CONFIG', 'not a valid PCA model file: header is not JSON', { cause: err });
  }
  if (header.format !== FORMAT) throw invalid(`format is ${JSON.stringify(header.format)}, expected ${FORMAT}`);
  if (header.version !== VERSION) throw invalid(`version ${String(header.version)} is not supported (this build reads ${VERSION})`);
  const d = header.sourceDimensions;
  const k = header.targetDimensions;
  if (!Number.isInteger(d) || !Number.isInteger(k) || d < 1 || k < 1 || k > d) throw invalid(`bad dimensions ${String(k)} x ${String(d)}`);
  const payloadStart = align8(12 + headerLength);
  const digest = createHash('sha256').update(buf.subarray(payloadStart)).digest('hex');
  if (digest !== header.payloadSha256) throw invalid('payload checksum mismatch (file truncated or altered)');
  const expected: Record<ArrayEntry['name'], { dtype: Dtype; length: number }> = {
    mean: { dtype: 'float32', length: d },
    components: { dtype: 'float32', length: k * d },
    explainedVariance: { dtype: 'float64', length: k },
  };
  const arrays = new Map<string, Float32Array | Float64Array>();
  for (const entry of Array.isArray(header.arrays) ? header.arrays : []) {
    const want = expected[entry.name];
    if (!want || entry.dtype !== want.dtype || entry.length !== want.length) throw invalid(`unexpected array entry ${JSON.stringify(entry)}`);
    arrays.set(entry.name, readArray(buf, entry));
  }
  const mean = arrays.get('mean');
  const components = arrays.get('components');
  const explainedVariance = arrays.get('explainedVariance');
  if (!(mean instanceof Float32Array) || !(components instanceof Float32Array) || !(explainedVariance instanceof Float64Array)) {
    throw invalid('missing arrays');
  }
  if (typeof header.totalVariance !== 'number' || typeof header.sampleSize !== 'number' || typeof header.method !== 'string') {
    throw invalid('missing totalVariance, sampleSize or method');
  }
  return {
    sourceDimensions: d,
    targetDimensions: k,
    mean,
    components,
    explainedVariance,
    totalVariance: header.totalVariance,
    sampleSize: header.sampleSize,
    method: header.method,
    notes: Array.isArray(header.notes) ? header.notes.map(String) : [],
  };
}
