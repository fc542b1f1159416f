/**
 * A third-party store (FAISS, LlamaIndex, Chroma) seen through the same three calls as the
 * application's own format (store.ts): its manifest, a checksum of its files, and its records as
 * `SourceRecord`s, so every later stage (embed, reduce, load, ledger, verify) is format-blind.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { MigrateError, toMigrateError } from '../errors.js';
import { sha256OfFile } from '../hash.js';
import type { FormatCollection } from './formats/types.js';
import type { SourceRecord, StoreInspection } from './store.js';
import type { FormatSource, StoreLocation } from './types.js';
import { storeLabel } from '../storeLabel.js';


function collectionOf(format: FormatSource, store: StoreLocation): FormatCollection {
  const found = format.inspection.collections.find((c) => c.name === format.name);
  if (found === undefined) throw new MigrateError('E_FORMAT', `${storeLabel(store)}: ${format.reader.format} collection ${JSON.stringify(format.name)} is no longer in ${store.dir}`);
  return found;
}

/** Counts from discovery's inspection: a reader's inspect already read every record once. */
export function inspectFormatStore(store: StoreLocation, format: FormatSource): StoreInspection {
  try {
    const c = collectionOf(format, store);
    return { manifest: { vectors: c.dimensions === null ? null : c.records, dimensions: c.dimensions, pickle: null, entries: c.records }, error: null };
  } catch (err) {
    return { manifest: { vectors: null, dimensions: null, pickle: null, entries: null }, error: toMigrateError(err, 'E_FORMAT', storeLabel(store)) };
  }
}

/** One SHA-256 over the files the reader said the records come from (name and hash of each). */
export async function formatSourceSha256(store: StoreLocation, format: FormatSource): Promise<string> {
  const outer = createHash('sha256');
  // The collection is part of it: two collections of one Chroma file are two stores.
  outer.update(`${format.reader.format}\u0000${format.name}\n`);
  for (const file of [...format.inspection.files].sort()) {
    const { sha256 } = await sha256OfFile(join(store.dir, file));
    outer.update(`${file}\u0000${sha256}\n`);
  }
  return outer.digest('hex');
}

/**
 * The reader's records as entries: the text under `text` (what extract.ts reads), the format's
 * metadata beside it, and the format's own id, which the row id derives from.
 */
export async function* readFormatRecords(store: StoreLocation, format: FormatSource, options: { withVectors: boolean }): AsyncGenerator<SourceRecord> {
  for await (const r of format.reader.records(store.dir, format.name, options)) {
    const entry: Record<string, unknown> = { ...r.metadata, text: r.text };
    yield { index: r.position, entry, sourceId: r.sourceId, ...(options.withVectors && r.vector !== null ? { vector: r.vector } : {}) };
  }
}
