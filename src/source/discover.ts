/**
 * Finds the stores under a root: `{root}/{userId}/vector_store_{collection}/{vectors.pkl,metadata.json}`.
 *
 * Deterministic: users, then collections, in code-unit order, whatever readdir returns.
 *
 * Links. The application never created symbolic links, and the user id of every row we load
 * comes from a directory *name*, so a link is either an operator's rearrangement or a way to
 * make one user's data appear under another id. The rules:
 *   - the root itself may be (or sit under) a link: it is resolved once, and everything else
 *     must stay inside the resolved root;
 *   - a user or store directory that is a link is refused (E_PATH), whether it points outside the
 *     root or inside it (`bob2 -> bob` would load bob's rows as user bob2);
 *   - vectors.pkl / metadata.json may be links only to files inside their own store directory
 *     (e.g. `metadata.json -> metadata.v2.json`); a link anywhere else, or a dangling one, makes
 *     the whole store refused with E_PATH and a reason naming the file. We refuse the store rather
 *     than report the file as absent, because "no metadata.json" would send the operator after
 *     the wrong problem.
 *   - a missing file is not an error here: the store is reported with that path null, and the
 *     reader fails it with E_MISSING_FILE. A file that exists but is not a regular file (a
 *     directory, a FIFO that would block a read) refuses the store with E_MISSING_FILE.
 * A refused store of a valid user (a link, or a file refused as above) is an `unreadable` event:
 * the tool saw a store and cannot migrate it, which is a failure the ledger must keep, not a
 * skip. Only entries that are not stores at all (bad user ids, `vector_store_` files, empty
 * collection names) are `skipped`.
 * Paths in `skipped` events are as seen under the root the caller gave; paths in stores are the
 * resolved ones.
 */
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { MigrateError } from '../errors.js';
import type { DiscoveryEvent, StoreLocation } from './types.js';

/** The application's sanitized id: [A-Za-z0-9_-] only, no runs of `_`, no leading/trailing `_`. */
export const SANITIZED_USER_ID = /^[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*$/;
export const STORE_PREFIX = 'vector_store_';
export const VECTORS_FILE = 'vectors.pkl';
export const METADATA_FILE = 'metadata.json';

export function isSanitizedUserId(name: string): boolean {
  return SANITIZED_USER_ID.test(name);
}

export interface DiscoverOptions {
  /** Only these user ids; each one not found is reported as a skipped event. */
  users?: readonly string[];
}

type Skipped = Extract<DiscoveryEvent, { kind: 'skipped' }>;
type Unreadable = Extract<DiscoveryEvent, { kind: 'unreadable' }>;

function skipped(path: string, code: Skipped['code'], reason: string): Skipped {
  return { kind: 'skipped', path, code, reason };
}

function unreadable(userId: string, collection: string, dir: string, refusal: Skipped): Unreadable {
  return { kind: 'unreadable', store: { userId, collection, dir, vectorsPath: null, metadataPath: null }, path: refusal.path, code: refusal.code, reason: refusal.reason };
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isInside(child: string, parent: string): boolean {
  const prefix = parent.endsWith(sep) ? parent : parent + sep;
  return child === parent || child.startsWith(prefix);
}

function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return null;
    throw error;
  }
}

async function linkTarget(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    // Dangling or looping: show what the link says instead.
    try {
      return `${await readlink(path)} (which does not resolve)`;
    } catch {
      return '(unreadable link)';
    }
  }
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFile()) return 'a file';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'a special file';
}

/** Refusal for a user or store directory that is a link, wherever it points. */
async function linkedDirectory(path: string, shown: string, realRoot: string, what: string): Promise<Skipped> {
  const target = await linkTarget(path);
  const where = isInside(target, realRoot)
    ? 'inside the root: following it would load that data under this name, so it is refused'
    : 'outside the root: the tool never reads outside the root';
  return skipped(shown, 'E_PATH', `${what} is a symbolic link to ${target}, ${where}`);
}

/**
 * Checks that a user or store entry is a real directory (links are refused even when they point
 * inside the root: `bob2 -> bob` would load bob's rows as bob2). Null when it is fine,
 * 'vanished' when it disappeared since readdir, otherwise the refusal to report (`notDirectory`:
 * the entry is not a directory at all, so not a store either).
 */
async function examineDirectory(path: string, shown: string, realRoot: string, what: 'user' | 'store'): Promise<{ refusal: Skipped; notDirectory: boolean } | 'vanished' | null> {
  let stats: Stats | null;
  try {
    stats = await lstatOrNull(path);
  } catch (error) {
    return { refusal: skipped(shown, 'E_PATH', `cannot be examined: ${describeError(error)}`), notDirectory: false };
  }
  if (stats === null) return 'vanished';
  if (stats.isSymbolicLink()) return { refusal: await linkedDirectory(path, shown, realRoot, `the ${what} directory`), notDirectory: false };
  if (!stats.isDirectory()) return { refusal: skipped(shown, 'E_PATH', `is ${kindOf(stats)}, not a ${what} directory; skipped`), notDirectory: true };
  return null;
}

/**
 * Resolves one of the two store files. Returns its real path, null when absent, or the reason
 * the whole store must be refused.
 */
async function resolveStoreFile(
  storeShown: string,
  realStore: string,
  name: string,
): Promise<{ path: string | null } | { refuse: Skipped }> {
  const path = join(realStore, name);
  const stats = await lstatOrNull(path);
  if (stats === null) return { path: null };
  let real = path;
  let target = stats;
  if (stats.isSymbolicLink()) {
    const resolved = await linkTarget(path);
    if (!isInside(resolved, realStore) || resolved === realStore) {
      return {
        refuse: skipped(
          storeShown,
          'E_PATH',
          `${name} is a symbolic link to ${resolved}, outside its store directory; the store is refused (links may only point to files in the same store)`,
        ),
      };
    }
    real = resolved;
    target = await stat(real);
  }
  if (!target.isFile()) {
    return { refuse: skipped(storeShown, 'E_MISSING_FILE', `${name} is ${kindOf(target)}, not a regular file; the store is refused`) };
  }
  return { path: real };
}

async function* scanStore(userId: string, collection: string, storeShown: string, realStore: string): AsyncGenerator<DiscoveryEvent> {
  try {
    const vectors = await resolveStoreFile(storeShown, realStore, VECTORS_FILE);
    if ('refuse' in vectors) {
      yield unreadable(userId, collection, realStore, vectors.refuse);
      return;
    }
    const metadata = await resolveStoreFile(storeShown, realStore, METADATA_FILE);
    if ('refuse' in metadata) {
      yield unreadable(userId, collection, realStore, metadata.refuse);
      return;
    }
    const store: StoreLocation = { userId, collection, dir: realStore, vectorsPath: vectors.path, metadataPath: metadata.path };
    yield { kind: 'store', store };
  } catch (error) {
    yield unreadable(userId, collection, realStore, skipped(storeShown, 'E_PATH', `the store directory cannot be examined: ${describeError(error)}`));
  }
}

async function* scanUser(userId: string, userShown: string, realUser: string, realRoot: string, requested: boolean): AsyncGenerator<DiscoveryEvent> {
  let names: string[];
  try {
    names = await readdir(realUser);
  } catch (error) {
    yield skipped(userShown, 'E_PATH', `the user directory cannot be read: ${describeError(error)}`);
    return;
  }
  // Anything else in a user directory (interview_data/, files) is the application's other data.
  const storeNames = names.filter((n) => n.startsWith(STORE_PREFIX)).sort(byCodeUnits);
  if (storeNames.length === 0 && requested) {
    yield skipped(userShown, 'E_USAGE', `user ${userId} was requested but has no ${STORE_PREFIX}* directory`);
    return;
  }
  for (const name of storeNames) {
    const collection = name.slice(STORE_PREFIX.length);
    const shown = join(userShown, name);
    if (collection.length === 0) {
      yield skipped(shown, 'E_PATH', `"${STORE_PREFIX}" has an empty collection name; the application never writes that, skipped`);
      continue;
    }
    const path = join(realUser, name);
    const examined = await examineDirectory(path, shown, realRoot, 'store');
    if (examined === 'vanished') continue;
    if (examined !== null) {
      yield examined.notDirectory ? examined.refusal : unreadable(userId, collection, path, examined.refusal);
      continue;
    }
    yield* scanStore(userId, collection, shown, path);
  }
}

/**
 * The stores under `root`, as `store` events, interleaved with `skipped` events for everything
 * that looks like data but cannot be used. Throws E_USAGE only when the root itself is unusable.
 */
export async function* discoverStores(root: string, opts: DiscoverOptions = {}): AsyncGenerator<DiscoveryEvent> {
  const shownRoot = resolve(root);
  let rootStats: Stats;
  try {
    rootStats = await stat(shownRoot);
  } catch (error) {
    const code = errnoCode(error);
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${describeError(error)})`;
    throw new MigrateError('E_USAGE', `the source root ${shownRoot} ${why}`, { cause: error });
  }
  if (!rootStats.isDirectory()) {
    throw new MigrateError('E_USAGE', `the source root ${shownRoot} is not a directory (point the tool at the user_data directory)`);
  }
  const realRoot = await realpath(shownRoot);
  let names: string[];
  try {
    names = await readdir(realRoot);
  } catch (error) {
    throw new MigrateError('E_USAGE', `the source root ${shownRoot} cannot be listed: ${describeError(error)}`, { cause: error });
  }

  const wanted = opts.users === undefined ? null : new Set(opts.users);
  const present = new Set(names);
  const all = wanted === null ? names : [...new Set([...names.filter((n) => wanted.has(n)), ...wanted])];
  all.sort(byCodeUnits);

  for (const name of all) {
    const shown = join(shownRoot, name);
    if (!present.has(name)) {
      const why = isSanitizedUserId(name) ? 'there is no such directory under the root' : 'it is not a sanitized user id, so no such directory can exist';
      yield skipped(shown, 'E_USAGE', `user ${name} was requested but ${why}`);
      continue;
    }
    if (!isSanitizedUserId(name)) {
      yield skipped(
        shown,
        'E_PATH',
        'not a sanitized user id (only letters, digits, "-" and single "_" between them): the application did not write it, skipped',
      );
      continue;
    }
    const path = join(realRoot, name);
    const examined = await examineDirectory(path, shown, realRoot, 'user');
    if (examined === 'vanished') continue;
    if (examined !== null) {
      yield examined.refusal;
      continue;
    }
    yield* scanUser(name, shown, path, realRoot, wanted !== null);
  }
}
