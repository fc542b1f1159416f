export { llamaIndexReader } from './llamaIndex.js';

import { llamaIndexReader } from './llamaIndex.js';
import type { FormatReader } from './types.js';

export const FORMAT_READERS: readonly FormatReader[] = [llamaIndexReader];
