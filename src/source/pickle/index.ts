/**
 * The safe pickle machines. Nothing a pickle names is ever imported or executed.
 *
 * vectors.pkl of a SimpleVectorStore (see FORMAT.md) is decoded by a streaming VM:
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
 *
 * The data pickles of other stores (LangChain's index.pkl, Chroma's index_metadata.pickle) are
 * small and read whole, by one machine that each format gives its allow-list:
 *
 *   dataVm.ts       the machine: data opcodes, the memo, allowed classes and sets as records
 *   allowList.ts    what a format declares: allowed `module.name` -> plain-data constructor
 *   pyData.ts       the resulting plain data (PyDict, PyInstance, ...) and its helpers
 *   memoryInput.ts  bounds-checked reads of a pickle in memory
 */
import type { StoredVector } from '../types.js';
import { PickleDecoder, type PickleInfo } from './decoder.js';
import type { PickleLimits } from './limits.js';

export type { PickleInfo } from './decoder.js';
export { DEFAULT_PICKLE_LIMITS, type PickleLimits } from './limits.js';
export { allowInstances, SET_CONSTRUCTORS, type AllowedConstructor, type AllowList, type DataPickleProfile } from './allowList.js';
export { unpickle } from './dataVm.js';
export { describePy, dictGet, type PyDict, type PyInstance, type PyValue } from './pyData.js';

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
