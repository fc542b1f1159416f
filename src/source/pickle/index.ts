/**
 * A safe, streaming decoder for the vectors.pkl of a SimpleVectorStore (see FORMAT.md).
 *
 * The file is never "loaded": a small VM accepts only data opcodes and an exact allow-list of
 * numpy globals, models the numpy calls as data constructors and calls nothing. Vectors are
 * streamed one at a time; memory does not grow with the file.
 *
 *   scan.ts    pass 1: validates every opcode and global, finds the memo slots read back
 *   vm.ts      pass 2: the restricted VM; streams the top-level list's items
 *   numpy.ts   _reconstruct / dtype / _codecs.encode / _frombuffer as data, float decoding
 *   matrix.ts  rows of a top-level 2-D array, from memory or straight from the file
 *   shape.ts   per-vector checks (kind, length, finiteness) and the summary
 *   reader.ts  chunked file reading;  args.ts / text.ts  argument decoding
 */
import type { StoredVector } from '../types.js';
import { PickleDecoder, type PickleInfo } from './decoder.js';
import type { PickleLimits } from './limits.js';

export type { PickleInfo } from './decoder.js';
export { DEFAULT_PICKLE_LIMITS, type PickleLimits } from './limits.js';

/** Streams the vectors one at a time, in order; memory bounded independent of the file size. */
export function readPickledVectors(path: string, limits?: Partial<PickleLimits>): AsyncIterable<StoredVector> {
  return new PickleDecoder(path, { limits }).vectors();
}

/** One pass that validates everything and counts, without retaining vectors. */
export async function inspectPickledVectors(path: string, limits?: Partial<PickleLimits>): Promise<PickleInfo> {
  const decoder = new PickleDecoder(path, { limits });
  for await (const _vector of decoder.vectors()) {
    // Each vector is checked as it is decoded; nothing is kept.
  }
  if (decoder.info === null) throw new Error('pickle decoder finished without a summary');
  return decoder.info;
}
