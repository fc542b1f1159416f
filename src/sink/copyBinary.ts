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
 */
import { MigrateError } from '../errors.js';
import type { DocumentRow } from './types.js';

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
] as const;

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
 * later with a less helpful message (bad uuid, non-integer index, non-finite float).
 */
export function encodeRows(rows: readonly DocumentRow[]): Buffer {
  let size = 0;
  for (const row of rows) size += rowSize(row);
  const buf = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const row of rows) offset = writeRow(buf, offset, row);
  if (offset !== size) {
    throw new MigrateError('E_INTERNAL', `binary COPY encoder wrote ${offset} bytes, expected ${size}`);
  }
  return buf;
}

/** Header + rows + trailer: a complete COPY payload (used where each batch is its own COPY). */
export function encodeCopyPayload(rows: readonly DocumentRow[]): Buffer {
  return Buffer.concat([encodeHeader(), encodeRows(rows), encodeTrailer()]);
}

function rowSize(row: DocumentRow): number {
  return (
    2 + // field count
    4 * COPY_COLUMNS.length + // one length word per field
    16 + // uuid
    Buffer.byteLength(row.userId, 'utf8') +
    Buffer.byteLength(row.collection, 'utf8') +
    Buffer.byteLength(row.text, 'utf8') +
    4 + 4 * row.embedding.length + // vector: dim + unused + floats
    1 + Buffer.byteLength(row.metadataJson, 'utf8') + // jsonb: version + text
    Buffer.byteLength(row.contentSha256, 'utf8') +
    Buffer.byteLength(row.embeddingModel, 'utf8') +
    4 // int4
  );
}

function writeRow(buf: Buffer, start: number, row: DocumentRow): number {
  let o = buf.writeInt16BE(COPY_COLUMNS.length, start);

  // id uuid
  o = buf.writeInt32BE(16, o);
  o = writeUuid(buf, o, row);

  o = writeText(buf, o, row.userId);
  o = writeText(buf, o, row.collection);
  o = writeText(buf, o, row.text);

  // embedding vector
  const dims = row.embedding.length;
  if (dims < 1 || dims > 16000) {
    throw rowError(row, `embedding has ${dims} dimensions (pgvector accepts 1..16000)`);
  }
  o = buf.writeInt32BE(4 + 4 * dims, o);
  o = buf.writeInt16BE(dims, o);
  o = buf.writeInt16BE(0, o);
  for (let i = 0; i < dims; i++) {
    const v = row.embedding[i] as number;
    if (!Number.isFinite(v)) throw rowError(row, `embedding[${i}] is ${v} (pgvector refuses NaN and infinity)`);
    o = buf.writeFloatBE(v, o);
  }

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
  return o;
}

function writeText(buf: Buffer, o: number, value: string): number {
  const len = Buffer.byteLength(value, 'utf8');
  o = buf.writeInt32BE(len, o);
  return o + buf.write(value, o, len, 'utf8');
}

function writeUuid(buf: Buffer, o: number, row: DocumentRow): number {
  if (!UUID_RE.test(row.id)) throw rowError(row, `id ${JSON.stringify(row.id)} is not a UUID`);
  return o + buf.write(row.id.replace(/-/g, ''), o, 16, 'hex');
}

function rowError(row: DocumentRow, detail: string): MigrateError {
  return new MigrateError('E_LOAD', `row ${row.sourceIndex} of ${row.userId}/${row.collection}: ${detail}`);
}
