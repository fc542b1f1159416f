import { lstat, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { MigrateError } from '../../errors.js';

function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/**
 * The real path of the file `name` of a store directory, refusing what the tool must not read:
 * a link that resolves outside the store (E_PATH), or something that is not a regular file
 * (E_MISSING_FILE, as for the application's own stores: a FIFO would block the read).
 */
export async function resolveStoreFile(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  let realDir: string;
  let real: string;
  try {
    realDir = await realpath(dir);
    const link = await lstat(path);
    real = link.isSymbolicLink() ? await realpath(path) : join(realDir, name);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new MigrateError('E_MISSING_FILE', `${path} does not exist (or is a link to nothing); the store cannot be read without it`, { cause: error });
    throw new MigrateError('E_PATH', `${path} cannot be examined: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const prefix = realDir.endsWith(sep) ? realDir : realDir + sep;
  if (!real.startsWith(prefix)) {
    throw new MigrateError('E_PATH', `${path} is a symbolic link to ${real}, outside its store directory ${realDir}; the tool never reads outside a store (copy the file into the store instead)`);
  }
  const target = await stat(real);
  if (!target.isFile()) throw new MigrateError('E_MISSING_FILE', `${path} is not a regular file; the store is refused`);
  return real;
}
