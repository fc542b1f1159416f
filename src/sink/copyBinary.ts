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
import { storeLabel } from '../storeLabel.js';
import { COPY_COLUMNS, type CopyColumn } from './columns.js';

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

/**
 * One field of the tuple: its value's byte count (without the length word; 0 for NULL) and the
 * writer of its length word and value. Keyed by column, so that a column columns.ts adds to
 * COPY_COLUMNS does not compile until it has its codec, and the tuple's order is COPY_COLUMNS'.
 */
interface FieldCodec {
  size(row: DocumentRow, elementSize: number): number;
  write(buf: Buffer, o: number, row: DocumentRow, vectorType: VectorType): number;
}

const FIELDS: { readonly [C in CopyColumn]: FieldCodec } = {
  id: { size: () => 16, write: (buf, o, row) => writeUuid(buf, buf.writeInt32BE(16, o), row, row.id, 'id') },
  user_id: textField((row) => row.userId),
  collection_name: textField((row) => row.collection),
  text: textField((row) => row.text),
  // vector/halfvec: dim + unused + elements
  embedding: {
    size: (row, elementSize) => 4 + elementSize * row.embedding.length,
    write: (buf, o, row, vectorType) => (vectorType === 'halfvec' ? writeHalfvec(buf, o, row) : writeVector(buf, o, row)),
  },
  // jsonb: version byte 1 + text
  metadata: {
    size: (row) => 1 + Buffer.byteLength(row.metadataJson, 'utf8'),
    write(buf, o, row) {
      const jsonLen = Buffer.byteLength(row.metadataJson, 'utf8');
      o = buf.writeInt32BE(1 + jsonLen, o);
      o = buf.writeUInt8(1, o);
      return o + buf.write(row.metadataJson, o, jsonLen, 'utf8');
    },
  },
  content_sha256: textField((row) => row.contentSha256),
  embedding_model: textField((row) => row.embeddingModel),
  source_index: {
    size: () => 4,
    write(buf, o, row) {
      if (!Number.isInteger(row.sourceIndex) || row.sourceIndex < INT32_MIN || row.sourceIndex > INT32_MAX) {
        throw rowError(row, `source index ${row.sourceIndex} is not a 32-bit integer`);
      }
      return buf.writeInt32BE(row.sourceIndex, buf.writeInt32BE(4, o));
    },
  },
  // uuid, or NULL (length -1) when the row was not projected
  pca_model_id: {
    size: (row) => (pcaModelId(row) === null ? 0 : 16),
    write(buf, o, row) {
      const modelId = pcaModelId(row);
      return modelId === null ? buf.writeInt32BE(-1, o) : writeUuid(buf, buf.writeInt32BE(16, o), row, modelId, 'PCA model id');
    },
  },
  // text, or NULL
  embedding_fingerprint: {
    size: (row) => Buffer.byteLength(embeddingFingerprint(row) ?? '', 'utf8'),
    write(buf, o, row) {
      const fingerprint = embeddingFingerprint(row);
      return fingerprint === null ? buf.writeInt32BE(-1, o) : writeText(buf, o, fingerprint);
    },
  },
};

const TUPLE: readonly FieldCodec[] = COPY_COLUMNS.map((column) => FIELDS[column]);

function textField(value: (row: DocumentRow) => string): FieldCodec {
  return { size: (row) => Buffer.byteLength(value(row), 'utf8'), write: (buf, o, row) => writeText(buf, o, value(row)) };
}

function rowSize(row: DocumentRow, elementSize: number): number {
  let size = 2 + 4 * TUPLE.length; // field count, one length word per field
  for (const field of TUPLE) size += field.size(row, elementSize);
  return size;
}

function writeRow(buf: Buffer, start: number, row: DocumentRow, vectorType: VectorType): number {
  let o = buf.writeInt16BE(TUPLE.length, start);
  for (const field of TUPLE) o = field.write(buf, o, row, vectorType);
  return o;
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
