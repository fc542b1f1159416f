import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MigrateError, toMigrateError } from '../errors.js';
import { sha256OfFile } from '../hash.js';
import type { StoreLocation } from './types.js';
import { storeLabel } from '../storeLabel.js';

export interface BackupFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  userId: string;
  collection: string;
  sourceDir: string;
  copiedAt: string;
  files: BackupFile[];
}

export interface BackupResult {
  dir: string;
  manifest: BackupManifest;
}

/** Copies one file while hashing what was read, so the source is read exactly once. */
async function copyHashing(from: string, to: string): Promise<BackupFile> {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  // 'wx' refuses to overwrite: a backup that already exists belongs to another run.
  await pipeline(createReadStream(from), tap, createWriteStream(to, { flags: 'wx' }));
  return { name: path.basename(from), bytes, sha256: hash.digest('hex') };
}

/**
 * `mkdir -p` that reports the real reason: Node's recursive mkdir turns a parent it cannot create
 * (read-only file system, no permission) into ENOENT. Creating one level at a time surfaces it.
 */
async function makeDirectory(dir: string): Promise<string | undefined> {
  try {
    return await mkdir(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const levels: string[] = [];
    for (let p = dir; p !== path.dirname(p); p = path.dirname(p)) levels.unshift(p);
    for (const level of levels) {
      await mkdir(level).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    }
    throw err;
  }
}

/**
 * Copies a store's files to `<backupRoot>/<user>/<collection>/` with a SHA-256 manifest, then
 * re-reads every copy and compares it with the hash taken while reading the source. Any failure
 * (unwritable directory, full disk, mismatch) is E_BACKUP, raised before the store is loaded.
 */
export async function backupStore(store: StoreLocation, backupRoot: string, now: Date): Promise<BackupResult> {
  const dir = path.join(backupRoot, store.userId, store.collection);
  const label = storeLabel(store);
  // Set once this call has created the store's backup directory: only then is a half-written
  // copy ours to remove (on a full disk it would otherwise starve the next stores' backups).
  let created = false;
  try {
    created = (await makeDirectory(dir)) !== undefined;
    const files: BackupFile[] = [];
    for (const source of [store.vectorsPath, store.metadataPath]) {
      if (source === null) continue;
      const copied = await copyHashing(source, path.join(dir, path.basename(source)));
      const check = await sha256OfFile(path.join(dir, copied.name));
      if (check.sha256 !== copied.sha256 || check.bytes !== copied.bytes) {
        throw new MigrateError('E_BACKUP', `backup of ${label}/${copied.name} does not match its source after copying (disk error?)`);
      }
      files.push(copied);
    }
    const manifest: BackupManifest = {
      userId: store.userId,
      collection: store.collection,
      sourceDir: store.dir,
      copiedAt: now.toISOString(),
      files,
    };
    const manifestPath = path.join(dir, 'manifest.json');
    await writeFile(`${manifestPath}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`, { flag: 'wx' });
    await rename(`${manifestPath}.tmp`, manifestPath);
    return { dir, manifest };
  } catch (err) {
    if (created) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    if (err instanceof MigrateError) throw err;
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOSPC' ? 'the disk is full' : e.code === 'EACCES' || e.code === 'EROFS' ? 'the directory is not writable' : e.code === 'EEXIST' ? 'a backup already exists there' : e.message;
    throw toMigrateError(new Error(why), 'E_BACKUP', `cannot back up ${label} to ${dir}`);
  }
}

