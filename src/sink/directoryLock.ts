/**
 * One process at a time per PGlite directory. PGlite has no postmaster and no shared memory: two
 * processes that open one directory each run their own PostgreSQL over the same files, and the
 * directory ends up with duplicate keys or without a valid checkpoint. So every command takes
 * this lock before it opens the directory.
 *
 * The lock is a file beside the directory (`<dir>.lock`, never inside it: read-only commands must
 * leave the directory byte for byte as they found it) holding the owner's pid, command, start time
 * and host. No OS-level lock package is installed, and a plain file is what a user can inspect.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MigrateError } from '../errors.js';

export interface LockHolder {
  pid: number;
  command: string;
  startedAt: string;
  host: string;
  /** Tells this holder's lock from a later one of the same pid. */
  token: string;
}

export interface DirectoryLockOptions {
  /** What the holder is doing (the command name), shown to whoever finds the directory locked. */
  purpose: string;
  /** Wait for the holder to finish instead of failing with E_LOCKED. */
  wait: boolean;
  /** Called once when waiting starts, with a sentence naming the holder. */
  onWait?: ((notice: string) => void) | undefined;
  pollMs?: number;
}

export interface DirectoryLock {
  readonly path: string;
  /** Removes the lock file if it is still ours; safe to call twice. */
  release(): void;
}

export function lockPathOf(dataDir: string): string {
  return `${path.resolve(dataDir)}.lock`;
}

/**
 * Takes the lock of `dataDir`. Returns null when the directory's parent does not exist: then no
 * one can hold the directory either, and creating the parent just to lock it would write where a
 * read-only command must not.
 */
export async function lockDirectory(dataDir: string, options: DirectoryLockOptions): Promise<DirectoryLock | null> {
  const lockPath = lockPathOf(dataDir);
  if (!existsSync(path.dirname(lockPath))) return null;
  const me: LockHolder = { pid: process.pid, command: options.purpose, startedAt: new Date().toISOString(), host: hostname(), token: randomBytes(8).toString('hex') };
  let announced = false;
  for (;;) {
    if (tryCreate(lockPath, me)) return held(lockPath, me);
    const holder = readHolder(lockPath);
    if (holder === null) continue; // released between our attempt and the read
    if (isStale(holder)) {
      takeOver(lockPath, holder);
      continue;
    }
    const who = `pid ${holder.pid} (${holder.command}, since ${holder.startedAt}${holder.host === me.host ? '' : ` on ${holder.host}`})`;
    if (!options.wait) {
      throw new MigrateError(
        'E_LOCKED',
        `the PGlite directory ${path.resolve(dataDir)} is in use by ${who}: one process at a time may open it; wait for it to finish, or pass --wait to wait (if no such process runs, remove ${lockPath})`,
      );
    }
    if (!announced) {
      announced = true;
      options.onWait?.(`waiting for the PGlite directory ${path.resolve(dataDir)}: in use by ${who}`);
    }
    await sleep(options.pollMs ?? 200);
  }
}

/**
 * Writes the holder to a private file, then links it to the lock path: link() fails with EEXIST
 * atomically like O_EXCL, and a reader never sees a half-written lock file.
 */
function tryCreate(lockPath: string, me: LockHolder): boolean {
  const temp = `${lockPath}.${me.pid}.${me.token}`;
  writeFileSync(temp, `${JSON.stringify(me)}\n`, { flag: 'wx' });
  try {
    linkSync(temp, lockPath);
    return true;
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(temp);
  }
}

function readHolder(lockPath: string): LockHolder | null {
  let text: string;
  try {
    text = readFileSync(lockPath, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder>;
    if (typeof parsed.pid === 'number' && typeof parsed.token === 'string') {
      return { pid: parsed.pid, command: String(parsed.command), startedAt: String(parsed.startedAt), host: String(parsed.host), token: parsed.token };
    }
  } catch {
    // Not ours: fall through to the error, which names the file.
  }
  throw new MigrateError('E_LOCKED', `${lockPath} exists but is not a pgvector-migrate lock; if no pgvector-migrate process runs, remove it`);
}

/** A holder on this host whose process is gone (SIGKILL, a crash, a power cut). Other hosts' pids cannot be checked. */
function isStale(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return errnoCode(error) === 'ESRCH';
  }
}

/**
 * Removes a dead holder's lock. Renaming it away first makes the removal atomic: of two processes
 * taking over at once, the second renames the first one's fresh lock, sees it is not the dead
 * holder's, and puts it back.
 */
function takeOver(lockPath: string, dead: LockHolder): void {
  const aside = `${lockPath}.stale.${process.pid}`;
  try {
    renameSync(lockPath, aside);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw error;
  }
  const moved = readHolder(aside);
  if (moved !== null && moved.token !== dead.token) {
    try {
      linkSync(aside, lockPath);
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
    }
  }
  unlinkSync(aside);
}

function held(lockPath: string, me: LockHolder): DirectoryLock {
  let released = false;
  // 'exit' covers process.exit() and a normal end; SIGKILL cannot be caught, the stale check covers it.
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    try {
      if (readHolder(lockPath)?.token === me.token) unlinkSync(lockPath);
    } catch {
      // Already gone or replaced: nothing of ours to remove.
    }
  };
  process.on('exit', release);
  return { path: lockPath, release };
}

function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}
