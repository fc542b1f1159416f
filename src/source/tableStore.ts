/**
 * A table source's stores seen through the same calls as a directory store (store.ts): discovery
 * events, a manifest, a checksum and `SourceRecord`s, so validation, embedding, loading, the ledger
 * and `verify` are the same for a table as for files.
 */
import { MigrateError, toMigrateError } from '../errors.js';
import { storeLabel } from '../storeLabel.js';
import { isSanitizedUserId } from './discover.js';
import { sanitizeName } from './layout.js';
import type { SourceRecord, StoreInspection } from './store.js';
import type { TableReader, TableSource, TableStoreInspection, TableStoreKey } from './tableTypes.js';
import type { DiscoveryEvent, StoreLocation } from './types.js';

function tableOf(store: StoreLocation): TableSource {
  if (store.table === undefined) throw new MigrateError('E_INTERNAL', `${storeLabel(store)} is not read from a table`);
  return store.table;
}

function readerOf(store: StoreLocation): TableReader {
  return tableOf(store).reader;
}

/** One snapshot read per store and discovery, held by the store itself: the checksum and the counts come from it. */
function inspectionOf(store: StoreLocation): Promise<TableStoreInspection> {
  return tableOf(store).inspection();
}

/** Reads the store's snapshot the first time it is asked for, then hands back the same promise. */
function onceInspected(reader: TableReader, key: TableStoreKey): () => Promise<TableStoreInspection> {
  let found: Promise<TableStoreInspection> | null = null;
  return () => (found ??= reader.inspect(key));
}

/**
 * Every (owner, collection) of the table, in order. An owner that is not a sanitized user id, or a
 * collection that is not a sanitized name, is a failed store (never renamed: two values could
 * then share one store).
 */
export async function* discoverTableStores(reader: TableReader, users: readonly string[] | null, collections: readonly string[] | null = null): AsyncGenerator<DiscoveryEvent> {
  // One owner and one collection (a queued job's store) are looked up, not found among all.
  const [user, collection] = [users?.length === 1 ? users[0] : undefined, collections?.length === 1 ? collections[0] : undefined];
  const keys = user !== undefined && collection !== undefined ? await reader.stores({ userId: user, collection }) : await reader.stores();
  for (const key of keys) {
    if (users !== null && !users.includes(key.userId)) continue;
    const store: StoreLocation = { ...key, dir: reader.label, vectorsPath: null, metadataPath: null, table: { reader, inspection: onceInspected(reader, key) } };
    if (!isSanitizedUserId(key.userId)) {
      yield { kind: 'unreadable', store, path: reader.label, code: 'E_SOURCE', reason: `owner ${JSON.stringify(key.userId)} of ${reader.label} is not a sanitized user id (only letters, digits, "-" and single "_" between them); its rows are not migrated` };
    } else if (sanitizeName(key.collection) !== key.collection) {
      yield { kind: 'unreadable', store, path: reader.label, code: 'E_SOURCE', reason: `collection ${JSON.stringify(key.collection)} of ${reader.label} is not a collection name (letters, digits, ".", "-" and "_"); its rows are not migrated` };
    } else {
      yield { kind: 'store', store };
    }
  }
}

export async function tableSourceSha256(store: StoreLocation): Promise<string> {
  return (await inspectionOf(store)).sha256;
}

export async function inspectTableStore(store: StoreLocation): Promise<StoreInspection> {
  const reader = readerOf(store);
  try {
    const found = await inspectionOf(store);
    return { manifest: { vectors: reader.withVectors ? found.rows : null, dimensions: found.dimensions, pickle: null, entries: found.rows }, error: null };
  } catch (err) {
    return { manifest: { vectors: null, dimensions: null, pickle: null, entries: null }, error: toMigrateError(err, 'E_SOURCE', storeLabel(store)) };
  }
}

/** The rows as entries: the text under `text` (what extract.ts reads), the metadata beside it, the source id the row id derives from. */
export async function* readTableRecords(store: StoreLocation, options: { withVectors: boolean }): AsyncGenerator<SourceRecord> {
  for await (const r of readerOf(store).records(store)) {
    const entry: Record<string, unknown> = { ...r.metadata, text: r.text };
    yield { index: r.position, entry, sourceId: r.sourceId, ...(options.withVectors && r.vector !== null ? { vector: r.vector } : {}) };
  }
}
