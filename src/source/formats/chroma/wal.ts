import { endianness } from 'node:os';
import { describeCell, formatError, seqIdOf, type ChromaDb, type Row } from './sqlite.js';

/** embeddings_queue.operation, as chromadb's Operation enum numbers it. */
const ADD = 0n;
const UPDATE = 1n;
const UPSERT = 2n;
const DELETE = 3n;
const LITTLE_ENDIAN = endianness() === 'LE';

export interface WalSummary {
  rows: number;
  lastSeqId: bigint;
}

/**
 * Replays one collection's write-ahead log on top of `vectors` (id -> vector, already holding a
 * persisted HNSW segment's vectors, or empty), with the rules of Chroma's own vector segment
 * (local_persistent_hnsw.py): ADD of a live id is ignored, UPDATE of a missing id is ignored, an
 * UPDATE or UPSERT without a vector leaves the vector as it is, DELETE removes.
 */
export function replayWal(
  db: ChromaDb,
  topic: string,
  afterSeqId: bigint,
  vectors: Map<string, Float32Array>,
  label: string,
): WalSummary {
  const rows = db.rows('wal', [topic, afterSeqId.toString()]);
  let lastSeqId = afterSeqId;
  for (const row of rows) {
    const seqId = seqIdOf(row.seq_id ?? null, label);
    if (seqId <= lastSeqId) throw formatError(label, `embeddings_queue is not in seq_id order at seq_id ${seqId}`);
    lastSeqId = seqId;
    const id = row.id;
    if (typeof id !== 'string') throw formatError(label, `embeddings_queue row ${seqId} has ${describeCell(id ?? null)} as its id`);
    const op = row.operation;
    if (op === DELETE) {
      vectors.delete(id);
      continue;
    }
    if (op !== ADD && op !== UPDATE && op !== UPSERT) {
      throw formatError(label, `embeddings_queue row ${seqId} has operation ${describeCell(op ?? null)}, not 0-3 (add, update, upsert, delete)`);
    }
    const vector = decodeVector(row, seqId, label);
    if (vector === null) continue;
    const live = vectors.has(id);
    if ((op === ADD && live) || (op === UPDATE && !live)) continue;
    vectors.set(id, vector);
  }
  return { rows: rows.length, lastSeqId };
}

function decodeVector(row: Row, seqId: bigint, label: string): Float32Array | null {
  const blob = row.vector;
  if (blob === null || blob === undefined) return null;
  if (!(blob instanceof Uint8Array)) throw formatError(label, `embeddings_queue row ${seqId} has ${describeCell(blob)} as its vector, not a blob`);
  const encoding = row.encoding;
  if (encoding !== 'FLOAT32') {
    throw formatError(label, `embeddings_queue row ${seqId} encodes its vector as ${describeCell(encoding ?? null)}; only FLOAT32 is read`);
  }
  if (blob.length === 0 || blob.length % 4 !== 0) throw formatError(label, `embeddings_queue row ${seqId} has a ${blob.length}-byte vector, not a whole number of float32`);
  // Chroma writes numpy's native (little-endian) float32 bytes; a copy is a reinterpretation on a
  // little-endian machine, the common case.
  if (LITTLE_ENDIAN) return new Float32Array(blob.slice().buffer);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const out = new Float32Array(blob.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
