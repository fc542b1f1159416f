import { chromaReader } from './chroma/reader.js';
import { faissReader } from './faiss.js';
import { llamaIndexReader } from './llamaIndex.js';
import type { FormatReader } from './types.js';

export { chromaReader, createChromaReader, type ChromaReaderOptions } from './chroma/reader.js';
export { createFaissReader, faissReader, type FaissReaderOptions } from './faiss.js';
export { llamaIndexReader } from './llamaIndex.js';

/** Every third-party store format, in the order `--source auto` tries them. */
export const FORMAT_READERS: readonly FormatReader[] = [faissReader, llamaIndexReader, chromaReader];
