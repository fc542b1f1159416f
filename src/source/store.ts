import { createHash } from 'node:crypto';
import { MigrateError, toMigrateError } from '../errors.js';
import { sha256OfFile } from '../hash.js';
import type { FernetKey } from './keys.js';
import { formatSourceSha256, inspectFormatStore, readFormatRecords } from './formatStore.js';
import { readMetadataEntries } from './metadata.js';
import { inspectTableStore, readTableRecords, tableSourceSha256 } from './tableStore.js';
import { inspectPickledVectors, readPickledVectors, type PickleInfo } from './pickle/index.js';
import type { MetadataEntry, StoreLocation, StoredVector } from './types.js';
import { storeLabel } from '../storeLabel.js';

/** What a store's files hold, counted even when the store cannot be migrated. */
export interface StoreManifest {
  vectors: number | null;
  dimensions: number | null;
  pickle: Pick<PickleInfo, 'protocol' | 'shape' | 'dtype'> | null;
  entries: number | null;
}

export interface StoreInspection {
  manifest: StoreManifest;
  /** The first reason the store cannot be migrated, or null. */
  error: MigrateError | null;
}

export interface SourceRecord {
  index: number;
  entry: MetadataEntry;
  vector?: StoredVector;
  /** A third-party format's own id of the record (row ids derive from it); absent for the application's format. */
  sourceId?: string;
}

/**
 * One SHA-256 over a store's source files (each file's name and hash), so a re-run can tell a
 * store whose files did not change since its last successful load.
 */
export async function storeSourceSha256(store: StoreLocation): Promise<string> {
  if (store.format !== undefined) return formatSourceSha256(store, store.format);
  if (store.table !== undefined) return tableSourceSha256(store);
  const outer = createHash('sha256');
  for (const file of [store.vectorsPath, store.metadataPath]) {
    if (file === null) continue;
    const { sha256 } = await sha256OfFile(file);
    outer.update(`${file === store.vectorsPath ? 'vectors.pkl' : 'metadata.json'}\u0000${sha256}\n`);
  }
  return outer.digest('hex');
}


async function countEntries(store: StoreLocation, metadataPath: string, key: FernetKey): Promise<number> {
  let n = 0;
  for await (const _entry of readMetadataEntries(metadataPath, key, { userId: store.userId, collection: store.collection })) n++;
  return n;
}

/**
 * Validates a store end to end without keeping its contents: decodes the whole pickle, decrypts
 * and parses the whole metadata file, and compares the counts. Both files are examined even when
 * one fails, so the report can say what each holds.
 */
export async function inspectStore(store: StoreLocation, key: FernetKey): Promise<StoreInspection> {
  if (store.format !== undefined) return inspectFormatStore(store, store.format);
  if (store.table !== undefined) return inspectTableStore(store);
  const manifest: StoreManifest = { vectors: null, dimensions: null, pickle: null, entries: null };
  const errors: MigrateError[] = [];

  if (store.vectorsPath !== null) {
    try {
      const info = await inspectPickledVectors(store.vectorsPath);
      manifest.vectors = info.count;
      manifest.dimensions = info.dimensions;
      manifest.pickle = { protocol: info.protocol, shape: info.shape, dtype: info.dtype };
    } catch (err) {
      errors.push(toMigrateError(err, 'E_PICKLE', `vectors.pkl of ${storeLabel(store)}`));
    }
  }
  if (store.metadataPath !== null) {
    try {
      manifest.entries = await countEntries(store, store.metadataPath, key);
    } catch (err) {
      errors.push(toMigrateError(err, 'E_METADATA', `metadata.json of ${storeLabel(store)}`));
    }
  }

  if (store.vectorsPath === null || store.metadataPath === null) {
    const missing = store.vectorsPath === null && store.metadataPath === null ? 'both vectors.pkl and metadata.json' : store.vectorsPath === null ? 'vectors.pkl (no vectors)' : 'metadata.json (no text to migrate)';
    errors.unshift(new MigrateError('E_MISSING_FILE', `${storeLabel(store)} has no ${missing}; the store cannot be migrated`));
  } else if (errors.length === 0 && manifest.vectors !== manifest.entries) {
    errors.push(
      new MigrateError(
        'E_COUNT_MISMATCH',
        `${storeLabel(store)} has ${manifest.vectors} vectors but ${manifest.entries} metadata entries; refusing to pair them (truncating would lose data or shift texts against vectors)`,
      ),
    );
  }
  return { manifest, error: errors[0] ?? null };
}

/**
 * Streams a store's entries in order, each paired with its stored vector when `withVectors`.
 * The pairing re-checks the counts, so a file that changed since inspection still cannot shift
 * texts against vectors.
 */
export async function* readStoreRecords(store: StoreLocation, key: FernetKey, options: { withVectors: boolean }): AsyncGenerator<SourceRecord> {
  if (store.format !== undefined) {
    yield* readFormatRecords(store, store.format, options);
    return;
  }
  if (store.table !== undefined) {
    yield* readTableRecords(store, options);
    return;
  }
  if (store.metadataPath === null) throw new MigrateError('E_MISSING_FILE', `${storeLabel(store)} has no metadata.json`);
  const entries = readMetadataEntries(store.metadataPath, key, { userId: store.userId, collection: store.collection });
  if (!options.withVectors) {
    let index = 0;
    for await (const entry of entries) yield { index: index++, entry };
    return;
  }
  if (store.vectorsPath === null) throw new MigrateError('E_MISSING_FILE', `${storeLabel(store)} has no vectors.pkl`);
  const vectors = readPickledVectors(store.vectorsPath)[Symbol.asyncIterator]();
  let index = 0;
  for await (const entry of entries) {
    const next = await vectors.next();
    if (next.done === true) {
      throw new MigrateError('E_COUNT_MISMATCH', `${storeLabel(store)}: metadata.json has more entries than vectors.pkl has vectors (${index} vectors)`);
    }
    yield { index: index++, entry, vector: next.value };
  }
  const extra = await vectors.next();
  if (extra.done !== true) {
    await vectors.return?.();
    throw new MigrateError('E_COUNT_MISMATCH', `${storeLabel(store)}: vectors.pkl has more vectors than metadata.json has entries (${index} entries)`);
  }
}
