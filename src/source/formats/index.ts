import { chromaReader } from './chroma/reader.js';
import type { FormatReader } from './types.js';

export { chromaReader, createChromaReader, type ChromaReaderOptions } from './chroma/reader.js';

/** Every third-party store format reader, for discovery (`--source auto`). */
export const FORMAT_READERS: readonly FormatReader[] = [chromaReader];
