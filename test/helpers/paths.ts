import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, wherever the clone is (CI clones it fresh, with shared/ beside it). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_TESTDATA = path.resolve(REPO, '../shared/testdata');
export const SHARED_STORES = path.join(SHARED_TESTDATA, 'python-stores');
export const FERNET_SPEC = path.join(SHARED_TESTDATA, 'fernet-spec');
