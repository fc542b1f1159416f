import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { MigrateError } from '../../../errors.js';

/**
 * Segment folder names come from chroma.sqlite3 (segments.id), so a crafted database could name
 * `../../elsewhere`. Chroma names them by UUID; anything that is not one plain name is refused,
 * and so is any file of the store that is a symbolic link (it could point out of the store).
 */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function segmentFolder(dir: string, segmentId: string, label: string): string {
  if (!PLAIN_NAME.test(segmentId) || segmentId.includes('..')) {
    throw new MigrateError('E_PATH', `${label}: segment id ${JSON.stringify(segmentId.slice(0, 80))} is not a plain folder name; it would lead out of the store, refused`);
  }
  return join(dir, segmentId);
}

/** What is at `path`: 'file', 'dir' or null when absent; a symbolic link or anything else is E_PATH. */
export async function entryKind(path: string, shown: string): Promise<'file' | 'dir' | null> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new MigrateError('E_PATH', `${shown} cannot be examined: ${(error as Error).message}`, { cause: error });
  }
  if (stats.isSymbolicLink()) throw new MigrateError('E_PATH', `${shown} is a symbolic link; a store's files must be inside it, refused`);
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  throw new MigrateError('E_PATH', `${shown} is neither a file nor a directory, refused`);
}
