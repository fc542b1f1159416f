/**
 * Encoder for PostgreSQL's binary COPY format, specialised to the staging table's columns.
 *
 * Hand-written because no maintained npm library encodes pgvector's binary `vector` type
 * (pg-copy-streams moves bytes, it does not encode them). Binary COPY avoids text-format
 * escaping entirely and sends each float as 4 bytes instead of ~10 characters of decimal.
 *
 * Format (https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format"):
 *   header  = "PGCOPY\n\377\r\n\0", int32 flags (0), int32 header-extension length (0)
 *   tuple   = int16 field count, then per field: int32 byte length (-1 = NULL) + bytes
 *   trailer = int16 -1
 * All integers are big-endian (network order). Each field's bytes are what the type's
 * `*_recv` function expects:
 *   uuid          16 raw bytes
 *   text/varchar  UTF-8 bytes (the server checks the encoding and varchar's length limit)
 *   jsonb         version byte 1, then the JSON text in UTF-8
 *   int4          4 bytes
 *   vector        int16 dimensions, int16 unused (0), then float4 values (pgvector's vector_recv)
 *   halfvec       int16 dimensions, int16 unused (0), then binary16 values as uint16
 *                 (pgvector's halfvec_recv: pq_getmsgint(buf, 2) per element)
 */
import { MigrateError } from '../errors.js';
import { float32ToFloat16Bits, FLOAT16_MAX, isFiniteFloat16 } from './float16.js';
import type { DocumentRow, VectorType } from './types.js';
import { storeLabel } from './storeLabel.js';

/**
 * Column order of every encoded tuple. sql/queries/copy_staging_*.sql lists the same columns in
 * the same order; the COPY column list is what binds the two together.
 */
export const COPY_COLUMNS = [
  'id',
  'user_id',
  'collection_name',
  'text',
  'embedding',
  'metadata',
  'content_sha256',
  'embedding_model',
  'source_index',
  'pca_model_id',
  'embedding_fingerprint',
] as const;

export interface EncodeOptions {
  /** Type of the `embedding` column: float4 or binary16 elements. */
  vectorType: VectorType;
}

const DEFAULT_OPTIONS: EncodeOptions = { vectorType: 'vector' };

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** The 19 bytes that open a binary COPY stream. */
export function encodeHeader(): Buffer {
  const buf = Buffer.alloc(SIGNATURE.length + 8);
  SIGNATURE.copy(buf, 0);
  // flags (bit 16 = OIDs, not used) and header extension length are both 0: alloc zero-filled.
  return buf;
}

/** The 2 bytes that close a binary COPY stream. */
export function encodeTrailer(): Buffer {
  const buf = Buffer.alloc(2);
  buf.writeInt16BE(-1, 0);
  return buf;
}

/**
 * Encodes a batch of rows into one buffer, sized exactly up front (one allocation per batch,
 * no intermediate copies). Throws E_LOAD naming the row for values PostgreSQL could only reject
 * later with a less helpful message (bad uuid, non-integer index, non-finite float), and E_VECTOR
 * for a float that overflows binary16 when the column is a halfvec.
 */
export function encodeRows(rows: readonly DocumentRow[], options: EncodeOptions = DEFAULT_OPTIONS): Buffer {
  const elementSize = options.vectorType === 'halfvec' ? 2 : 4;
  let size = 0;
  for (const row of rows) size += rowSize(row, elementSize);
  const buf = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const row of rows) offset = writeRow(buf, offset, row, options.vectorType);
  if (offset !== size) {
    throw new MigrateError('E_INTERNAL', `binary COPY encoder wrote ${offset} bytes, expected ${size}`);
  }
  return buf;
}

/** Header + rows + trailer: a complete COPY payload (used where each batch is its own COPY). */
export function encodeCopyPayload(rows: readonly DocumentRow[], options: EncodeOptions = DEFAULT_OPTIONS): Buffer {
  return Buffer.concat([encodeHeader(), encodeRows(rows, options), encodeTrailer()]);
}

function rowSize(row: DocumentRow, elementSize: number): number {
  return (
    2 + // field count
    4 * COPY_COLUMNS.length + // one length word per field
    16 + // uuid
    Buffer.byteLength(row.userId, 'utf8') +
    Buffer.byteLength(row.collection, 'utf8') +
    Buffer.byteLength(row.text, 'utf8') +
    4 + elementSize * row.embedding.length + // vector/halfvec: dim + unused + elements
    1 + Buffer.byteLength(row.metadataJson, 'utf8') + // jsonb: version + text
    Buffer.byteLength(row.contentSha256, 'utf8') +
    Buffer.byteLength(row.embeddingModel, 'utf8') +
    4 + // int4
    (pcaModelId(row) === null ? 0 : 16) + // uuid, or nothing (length -1) for NULL
    Buffer.byteLength(embeddingFingerprint(row) ?? '', 'utf8') // text, or nothing for NULL
  );
}

function writeRow(buf: Buffer, start: number, row: DocumentRow, vectorType: VectorType): number {
  let o = buf.writeInt16BE(COPY_COLUMNS.length, start);

  // id uuid
  o = buf.writeInt32BE(16, o);
  o = writeUuid(buf, o, row, row.id, 'id');

  o = writeText(buf, o, row.userId);
  o = writeText(buf, o, row.collection);
  o = writeText(buf, o, row.text);

  o = vectorType === 'halfvec' ? writeHalfvec(buf, o, row) : writeVector(buf, o, row);

  // metadata jsonb
  const jsonLen = Buffer.byteLength(row.metadataJson, 'utf8');
  o = buf.writeInt32BE(1 + jsonLen, o);
  o = buf.writeUInt8(1, o);
  o += buf.write(row.metadataJson, o, jsonLen, 'utf8');

  o = writeText(buf, o, row.contentSha256);
  o = writeText(buf, o, row.embeddingModel);

  // source_index int4
  if (!Number.isInteger(row.sourceIndex) || row.sourceIndex < INT32_MIN || row.sourceIndex > INT32_MAX) {
    throw rowError(row, `source index ${row.sourceIndex} is not a 32-bit integer`);
  }
  o = buf.writeInt32BE(4, o);
  o = buf.writeInt32BE(row.sourceIndex, o);

  // pca_model_id uuid NULL
  const modelId = pcaModelId(row);
  if (modelId === null) {
    o = buf.writeInt32BE(-1, o);
  } else {
    o = buf.writeInt32BE(16, o);
    o = writeUuid(buf, o, row, modelId, 'PCA model id');
  }

  // embedding_fingerprint text NULL
  const fingerprint = embeddingFingerprint(row);
  return fingerprint === null ? buf.writeInt32BE(-1, o) : writeText(buf, o, fingerprint);
}

function checkDimensions(row: DocumentRow): number {
  const dims = row.embedding.length;
  if (dims < 1 || dims > 16000) {
    throw rowError(row, `embedding has ${dims} dimensions (pgvector accepts 1..16000)`);
  }
  return dims;
}

function writeVector(buf: Buffer, o: number, row: DocumentRow): number {
  const dims = checkDimensions(row);
  o = buf.writeInt32BE(4 + 4 * dims, o);
  o = buf.writeInt16BE(dims, o);
  o = buf.writeInt16BE(0, o);
  for (let i = 0; i < dims; i++) {
    const v = row.embedding[i] as number;
    if (!Number.isFinite(v)) throw rowError(row, `embedding[${i}] is ${v} (pgvector refuses NaN and infinity)`);
    o = buf.writeFloatBE(v, o);
  }
  return o;
}

function writeHalfvec(buf: Buffer, o: number, row: DocumentRow): number {
  const dims = checkDimensions(row);
  o = buf.writeInt32BE(4 + 2 * dims, o);
  o = buf.writeInt16BE(dims, o);
  o = buf.writeInt16BE(0, o);
  for (let i = 0; i < dims; i++) {
    const v = row.embedding[i] as number;
    if (!Number.isFinite(v)) throw rowError(row, `embedding[${i}] is ${v} (pgvector refuses NaN and infinity)`);
    const bits = float32ToFloat16Bits(v);
    // A finite float32 of magnitude >= 65520 rounds to infinity, which halfvec_recv refuses; the
    // vector itself is unusable as a halfvec, hence E_VECTOR rather than a load failure.
    if (!isFiniteFloat16(bits)) {
      throw new MigrateError(
        'E_VECTOR',
        `row ${row.sourceIndex} of ${storeLabel(row)}: embedding[${i}] = ${v} is out of range for halfvec (largest float16 is ${FLOAT16_MAX}); store it as vector or scale the embeddings`,
      );
    }
    o = buf.writeUInt16BE(bits, o);
  }
  return o;
}

function pcaModelId(row: DocumentRow): string | null {
  return row.pcaModelId ?? null;
}

/** Absent (callers from before fingerprints) and null both store NULL. */
function embeddingFingerprint(row: DocumentRow): string | null {
  return row.embeddingFingerprint ?? null;
}

function writeText(buf: Buffer, o: number, value: string): number {
  const len = Buffer.byteLength(value, 'utf8');
  o = buf.writeInt32BE(len, o);
  return o + buf.write(value, o, len, 'utf8');
}

function writeUuid(buf: Buffer, o: number, row: DocumentRow, value: string, what: string): number {
  if (!UUID_RE.test(value)) throw rowError(row, `${what} ${JSON.stringify(value)} is not a UUID`);
  return o + buf.write(value.replace(/-/g, ''), o, 16, 'hex');
}

function rowError(row: DocumentRow, detail: string): MigrateError {
  return new MigrateError('E_LOAD', `row ${row.sourceIndex} of ${storeLabel(row)}: ${detail}`);
}
