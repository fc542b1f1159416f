/**
 * Decodes pgvector's binary send form (vector_send, halfvec_send), which is how stored embeddings
 * are read back when they must be exact (reuse of stored embeddings): no decimal text in between,
 * whatever extra_float_digits says, -0 and subnormals included.
 *
 *   vector   int16 dimensions, int16 unused, then float4 values, big-endian
 *   halfvec  int16 dimensions, int16 unused, then binary16 values as big-endian uint16
 */
import { MigrateError } from '../errors.js';
import { float16BitsToNumber } from './float16.js';
import type { VectorType } from './types.js';

/** The embedding as float32 values (halfvec elements widened exactly: every float16 is a float32). */
export function decodeVectorSend(bytes: unknown, vectorType: VectorType): Float32Array {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < 4) throw damaged(vectorType, bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = view.getInt16(0, false);
  const size = vectorType === 'halfvec' ? 2 : 4;
  if (dims < 0 || bytes.byteLength !== 4 + size * dims) throw damaged(vectorType, bytes);
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) {
    out[i] = vectorType === 'halfvec' ? float16BitsToNumber(view.getUint16(4 + 2 * i, false)) : view.getFloat32(4 + 4 * i, false);
  }
  return out;
}

function damaged(vectorType: VectorType, bytes: unknown): MigrateError {
  const got = bytes instanceof Uint8Array ? `${bytes.byteLength} bytes` : typeof bytes;
  return new MigrateError('E_INTERNAL', `${vectorType}_send returned ${got}, which is not a ${vectorType}`);
}
