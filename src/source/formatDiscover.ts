/**
 * Discovery of stores that are not per user (FAISS, LlamaIndex, Chroma, and the application's own
 * files found this way): `--user U` owns every store under the root, `--layout` maps directories to
 * users and collections. Same guarantees as discover.ts: deterministic order (code units), never a
 * path out of the root, links to directories refused rather than followed.
 *
 * Collection names: the store directory's path under the root (or the layout's {collection}, or
 * its last literal segment), sanitized, then `.{name}` for a collection the format names inside the
 * directory (a Chroma collection, a LlamaIndex namespace), so every collection is its own store.
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { MigrateError, toMigrateError } from '../errors.js';
import { isSanitizedUserId, METADATA_FILE, VECTORS_FILE } from './discover.js';
import { FORMAT_READERS } from './formats/index.js';
import type { FormatReader, StoreFormat } from './formats/types.js';
import { sanitizeName, type Layout } from './layout.js';
import type { DiscoveryEvent, StoreLocation } from './types.js';

export type SourceFormat = 'auto' | 'simple' | StoreFormat;

export interface FormatDiscoverOptions {
  format: SourceFormat;
  /** --user: the owner of everything found (null: the layout's {user}). */
  owner: string | null;
  layout: Layout | null;
  /** --users: only these owners. */
  users?: readonly string[];
}

/** How deep a walk without --layout looks for stores (segment folders of a store are not walked). */
export const MAX_WALK_DEPTH = 6;

type Skipped = Extract<DiscoveryEvent, { kind: 'skipped' }>;

function skipped(path: string, code: Skipped['code'], reason: string): Skipped {
  return { kind: 'skipped', path, code, reason };
}

function isInside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch {
    return null;
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await lstatOrNull(path))?.isFile() === true;
}

/** The formats whose marker files `dir` holds, among those `--source` allows. */
async function formatsOf(dir: string, format: SourceFormat): Promise<(FormatReader | 'simple')[]> {
  const found: (FormatReader | 'simple')[] = [];
  if ((format === 'auto' || format === 'simple') && ((await isFile(join(dir, VECTORS_FILE))) || (await isFile(join(dir, METADATA_FILE))))) found.push('simple');
  for (const reader of FORMAT_READERS) if ((format === 'auto' || format === reader.format) && (await reader.matches(dir))) found.push(reader);
  return found;
}

function formatName(f: FormatReader | 'simple'): string {
  return f === 'simple' ? 'simple (vectors.pkl/metadata.json)' : f.format;
}

interface Candidate {
  dir: string;
  relPath: string;
  owner: string;
  /** The collection before a format's own collection name is added. */
  collection: string;
}

async function* storesAt(c: Candidate, format: SourceFormat): AsyncGenerator<DiscoveryEvent> {
  const base: StoreLocation = { userId: c.owner, collection: c.collection, dir: c.dir, vectorsPath: null, metadataPath: null };
  const found = await formatsOf(c.dir, format);
  if (found.length > 1) {
    yield { kind: 'unreadable', store: base, path: c.dir, code: 'E_FORMAT', reason: `${c.relPath} matches ${found.length} formats (${found.map(formatName).join(' and ')}); pass --source to say which one to read` };
    return;
  }
  const [only] = found;
  if (only === undefined) return;
  if (only === 'simple') {
    const file = async (name: string) => ((await isFile(join(c.dir, name))) ? join(c.dir, name) : null);
    yield { kind: 'store', store: { ...base, vectorsPath: await file(VECTORS_FILE), metadataPath: await file(METADATA_FILE) } };
    return;
  }
  let inspection;
  try {
    inspection = await only.inspect(c.dir);
  } catch (err) {
    const e = toMigrateError(err, 'E_FORMAT', `${only.format} store ${c.relPath}`);
    yield { kind: 'unreadable', store: base, path: c.dir, code: e.code, reason: e.message };
    return;
  }
  for (const collection of inspection.collections) {
    const named = collection.name === '' ? '' : sanitizeName(collection.name);
    if (named === null) {
      yield skipped(c.dir, 'E_FORMAT', `${c.relPath}: ${only.format} collection ${JSON.stringify(collection.name)} has no letter or digit to name it by; skipped`);
      continue;
    }
    if (collection.records === 0) {
      yield skipped(c.dir, 'E_FORMAT', `${c.relPath}: ${only.format} collection ${JSON.stringify(collection.name)} holds no records; skipped`);
      continue;
    }
    const name = named === '' ? c.collection : `${c.collection}.${named}`;
    yield { kind: 'store', store: { ...base, collection: name, format: { reader: only, name: collection.name, relPath: c.relPath, inspection } } };
  }
}

/** Sub-directories of `dir` in code-unit order; links and dot-directories are reported and not entered. */
async function* subdirectories(dir: string, shown: string, realRoot: string): AsyncGenerator<{ name: string; path: string } | Skipped> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort(byCodeUnits);
  } catch (error) {
    yield skipped(shown, 'E_PATH', `cannot be listed: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    const stats = await lstatOrNull(path);
    if (stats === null) continue;
    if (stats.isSymbolicLink()) {
      const target = await realpath(path).catch(() => '(a dangling link)');
      if ((await stat(path).catch(() => null))?.isDirectory() === true || !isInside(target, realRoot)) {
        yield skipped(join(shown, name), 'E_PATH', `is a symbolic link to ${target}; links are not followed (the tool never reads outside the root, nor one directory under another's name)`);
      }
      continue;
    }
    if (stats.isDirectory()) yield { name, path };
  }
}

function collectionFromPath(relPath: string, realRoot: string): string | null {
  const parts = relPath === '' ? [basename(realRoot)] : relPath.split(sep);
  return sanitizeName(parts.join('_'));
}

/** Without --layout: every directory under the root (to MAX_WALK_DEPTH) that holds a store, owned by --user. */
async function* walk(dir: string, realRoot: string, owner: string, format: SourceFormat, depth: number): AsyncGenerator<DiscoveryEvent> {
  const relPath = relative(realRoot, dir);
  const found = await formatsOf(dir, format);
  if (found.length > 0) {
    const collection = collectionFromPath(relPath, realRoot);
    if (collection === null) {
      yield skipped(dir, 'E_PATH', `${relPath} has no letter or digit to name a collection by; skipped`);
      return;
    }
    yield* storesAt({ dir, relPath: relPath === '' ? '.' : relPath, owner, collection }, format);
    return;
  }
  if (depth >= MAX_WALK_DEPTH) return;
  for await (const sub of subdirectories(dir, dir, realRoot)) {
    if ('kind' in sub) yield sub;
    else yield* walk(sub.path, realRoot, owner, format, depth + 1);
  }
}

/** With --layout: the directories the pattern names, segment by segment. */
async function* expand(layout: Layout, i: number, dir: string, realRoot: string, bound: { owner: string | null; collection: string | null }, options: FormatDiscoverOptions): AsyncGenerator<DiscoveryEvent> {
  const relPath = relative(realRoot, dir);
  const segment = layout.segments[i];
  if (segment === undefined) {
    const lastLiteral = layout.segments.filter((s) => s.kind === 'literal').at(-1);
    const collection = bound.collection ?? (lastLiteral === undefined ? null : sanitizeName(lastLiteral.name)) ?? collectionFromPath(relPath, realRoot);
    if (bound.owner === null || collection === null) return;
    const before = { stores: 0 };
    for await (const event of storesAt({ dir, relPath, owner: bound.owner, collection }, options.format)) {
      before.stores++;
      yield event;
    }
    if (before.stores === 0) yield skipped(dir, 'E_FORMAT', `${relPath} matches --layout ${layout.pattern} but holds no ${options.format === 'auto' ? 'known' : options.format} store; skipped`);
    return;
  }
  if (segment.kind === 'literal') {
    const path = join(dir, segment.name);
    const stats = await lstatOrNull(path);
    if (stats === null || !stats.isDirectory()) {
      if (stats?.isSymbolicLink() === true) yield skipped(path, 'E_PATH', 'is a symbolic link; links are not followed');
      return;
    }
    yield* expand(layout, i + 1, path, realRoot, bound, options);
    return;
  }
  for await (const sub of subdirectories(dir, dir, realRoot)) {
    if ('kind' in sub) {
      yield sub;
      continue;
    }
    if (segment.kind === 'user') {
      if (!isSanitizedUserId(sub.name)) {
        yield skipped(sub.path, 'E_PATH', 'not a sanitized user id (only letters, digits, "-" and single "_" between them): never guessed, skipped');
        continue;
      }
      if (options.users !== undefined && !options.users.includes(sub.name)) continue;
      yield* expand(layout, i + 1, sub.path, realRoot, { ...bound, owner: sub.name }, options);
      continue;
    }
    const collection = sanitizeName(sub.name);
    if (collection === null) {
      yield skipped(sub.path, 'E_PATH', 'has no letter or digit to name a collection by; skipped');
      continue;
    }
    yield* expand(layout, i + 1, sub.path, realRoot, { ...bound, collection }, options);
  }
}

/** The stores under `root` as discovery events (see discover.ts for their meaning). */
export async function* discoverFormatStores(root: string, options: FormatDiscoverOptions): AsyncGenerator<DiscoveryEvent> {
  const shownRoot = resolve(root);
  const rootStats = await stat(shownRoot).catch((error: unknown) => {
    throw new MigrateError('E_USAGE', `the source root ${shownRoot} does not exist or cannot be read`, { cause: error });
  });
  if (!rootStats.isDirectory()) throw new MigrateError('E_USAGE', `the source root ${shownRoot} is not a directory`);
  const realRoot = await realpath(shownRoot);
  if (options.owner !== null && options.users !== undefined && !options.users.includes(options.owner)) return;
  if (options.layout === null) {
    if (options.owner === null) throw new MigrateError('E_USAGE', 'stores of these formats are not per user: pass --user U (one owner for everything under the root) or --layout');
    yield* walk(realRoot, realRoot, options.owner, options.format, 0);
    return;
  }
  yield* expand(options.layout, 0, realRoot, realRoot, { owner: options.owner, collection: null }, options);
}

/** True when a walk under `root` finds a third-party store: a root of those needs --user or --layout. */
export async function hasFormatStores(root: string): Promise<boolean> {
  for await (const event of discoverFormatStores(root, { format: 'auto', owner: 'probe', layout: null })) {
    if (event.kind !== 'skipped' && event.store.vectorsPath === null && event.store.metadataPath === null) return true;
  }
  return false;
}
