/**
 * Free-space checks before PGlite writes. They exist because PGlite cannot survive a write that
 * fails for lack of space: when PostgreSQL cannot create its next WAL segment (a 16 MB file) the
 * error returns once, and the next protocol message (the Sync PGlite sends after every failed
 * query, or the ROLLBACK) spins forever inside the WebAssembly PostgreSQL, at 100% CPU with no
 * system call and no way for JavaScript to interrupt it. So the tool refuses a write it expects
 * not to fit instead of letting PGlite run into the wall; PGlite's own ENOSPC is still mapped to
 * E_DISK_FULL (failures.ts) for what these estimates miss.
 */
import { statfsSync } from 'node:fs';
import { MigrateError } from '../errors.js';

/**
 * Room kept free whatever the step: two WAL segments (PostgreSQL creates the next one at full
 * size before it writes to it, and a checkpoint may need one more).
 */
export const RESERVE_BYTES = 32 * 1024 * 1024;

/**
 * A staged batch is written again before the store commits: the target's heap and its indexes,
 * and the WAL of both. Four times the staged bytes covers that with room for the HNSW graph.
 */
export const WRITE_AMPLIFICATION = 4;

export function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return Number(stats.bavail) * Number(stats.bsize);
}

/** Throws E_DISK_FULL when `dir`'s file system has less than `needed` bytes for unprivileged writers. */
export function ensureFreeSpace(dir: string, needed: number, step: string): void {
  const free = freeBytes(dir);
  if (free >= needed) return;
  throw new MigrateError(
    'E_DISK_FULL',
    `${step}: the disk of the PGlite directory ${dir} is full: ${mb(free)} free, about ${mb(needed)} needed (PGlite cannot recover from a write that fails for lack of space, so the tool stops before it); nothing of this step was committed; free space there or use a --pglite-dir on a larger disk, then re-run (stores loaded before stay loaded)`,
  );
}

function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
