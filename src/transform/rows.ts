import { MigrateError, toMigrateError } from '../errors.js';
import type { DocumentRow } from '../sink/types.js';
import type { SourceRecord } from '../source/store.js';
import { extractEntry } from './extract.js';
import { withOwner, type Owner } from './ownerMetadata.js';
import { pendingRowId, sha256Hex } from './rowId.js';
import type { PendingEntry, Vectorizer } from './vectorize.js';
import { storeLabel } from '../storeLabel.js';

export interface RowStats {
  rows: number;
  /** Entries of the window being vectorized that are done but not yet rows. */
  vectorized: number;
  skipped: { index: number; reason: string }[];
  warnings: string[];
  vectorizeMs: number;
}

export function newRowStats(): RowStats {
  return { rows: 0, vectorized: 0, skipped: [], warnings: [], vectorizeMs: 0 };
}

export interface PendingRow extends PendingEntry {
  metadataJson: string;
  contentSha256: string;
  sourceId?: string;
}

export interface RowContext {
  userId: string;
  collection: string;
  /** The vectors' space as embeddingSpace.ts `serializeSpace` writes it, for every row's `embedding_fingerprint`. */
  serializedSpace?: string;
  /** --owner-in-metadata: user_id and collection_name also go into each row's metadata. */
  ownerInMetadata?: boolean;
}

/**
 * Extracts the texts of a store's records, recording skips and warnings, without vectorizing.
 * With `owner`, each row's metadata also names it (ownerMetadata.ts); the content hash stays the text's.
 */
export async function* extractTexts(records: AsyncIterable<SourceRecord>, stats: RowStats, owner: Owner | null = null): AsyncGenerator<PendingRow> {
  const moved = new Map<string, { count: number; first: string }>();
  for await (const record of records) {
    const extracted = extractEntry(record.entry, record.index);
    if (extracted.kind === 'skip') {
      stats.skipped.push({ index: record.index, reason: extracted.reason });
      continue;
    }
    stats.warnings.push(...extracted.warnings);
    let metadata = extracted.metadata;
    if (owner !== null) {
      const owned = withOwner(metadata, owner, record.index);
      metadata = owned.metadata;
      for (const c of owned.conflicts) {
        const seen = moved.get(c.key);
        moved.set(c.key, { count: (seen?.count ?? 0) + 1, first: seen?.first ?? `entry ${record.index}: ${JSON.stringify(c.value)}, kept as ${c.movedTo}` });
      }
    }
    yield {
      index: record.index,
      text: extracted.text,
      ...(record.vector === undefined ? {} : { vector: record.vector }),
      metadataJson: JSON.stringify(metadata),
      contentSha256: sha256Hex(extracted.text),
      ...(record.sourceId === undefined ? {} : { sourceId: record.sourceId }),
    };
  }
  for (const [key, m] of moved) stats.warnings.push(`${m.count} entries had a metadata ${key} other than the store's; --owner-in-metadata wrote the store's and kept theirs aside (e.g. ${m.first})`);
}

async function toRows(batch: PendingRow[], ctx: RowContext, vectorizer: Vectorizer, stats: RowStats, onProgress?: () => void): Promise<DocumentRow[]> {
  const started = performance.now();
  let vectors: Float32Array[];
  try {
    vectors = await vectorizer.vectors(
      batch,
      onProgress === undefined
        ? undefined
        : (entries) => {
            stats.vectorized += entries;
            onProgress();
          },
    );
  } catch (err) {
    throw toMigrateError(err, 'E_EMBED', `vectorizing entries ${batch[0]?.index}..${batch.at(-1)?.index} of ${storeLabel(ctx)}`);
  } finally {
    stats.vectorized = 0;
  }
  stats.vectorizeMs += performance.now() - started;
  if (vectors.length !== batch.length) {
    throw new MigrateError('E_EMBED', `got ${vectors.length} vectors for ${batch.length} entries`);
  }
  return batch.map((p, i) => {
    const embedding = vectors[i] as Float32Array;
    if (embedding.length !== vectorizer.dimensions) {
      throw new MigrateError('E_EMBED', `got a ${embedding.length}-dimension vector, expected ${vectorizer.dimensions}`);
    }
    stats.rows++;
    return {
      id: pendingRowId(ctx.userId, ctx.collection, p),
      userId: ctx.userId,
      collection: ctx.collection,
      text: p.text,
      embedding,
      metadataJson: p.metadataJson,
      contentSha256: p.contentSha256,
      embeddingModel: vectorizer.label,
      sourceIndex: p.index,
      pcaModelId: vectorizer.pcaModelId,
      embeddingFingerprint: ctx.serializedSpace ?? null,
    };
  });
}

/**
 * Batches per call of a vectorizer that groups texts by length: 64 x 32 texts of up to 512 tokens
 * are a few megabytes. On the benchmark corpus (20 to 500 tokens) the padded work of windows of
 * 8 batches is 10% over a sort of the whole store, of 64 batches 1.4% (BENCHMARKS.md).
 */
export const SORT_WINDOW_BATCHES = 64;

/** Entries per vectorizer call: a sort window for a vectorizer that groups texts by length, else one batch. */
export function windowSize(vectorizer: Pick<Vectorizer, 'groupsByLength'>, batchSize: number): number {
  return batchSize * (vectorizer.groupsByLength ? SORT_WINDOW_BATCHES : 1);
}

export interface RowBatchOptions {
  /** Called as entries of a window are vectorized (stats.vectorized says how many), between batches. */
  onProgress?: () => void;
}

/**
 * Turns a store's records into batches of rows (at most `batchSize` each, in source order).
 * Memory holds one window at a time: the next window is not read until the sink has taken the
 * previous one's rows.
 */
export async function* rowBatches(
  records: AsyncIterable<SourceRecord>,
  ctx: RowContext,
  vectorizer: Vectorizer,
  batchSize: number,
  stats: RowStats,
  options: RowBatchOptions = {},
): AsyncGenerator<DocumentRow[]> {
  const size = windowSize(vectorizer, batchSize);
  let window: PendingRow[] = [];
  const flush = async function* (): AsyncGenerator<DocumentRow[]> {
    const rows = await toRows(window, ctx, vectorizer, stats, options.onProgress);
    window = [];
    for (let i = 0; i < rows.length; i += batchSize) yield rows.slice(i, i + batchSize);
  };
  for await (const pending of extractTexts(records, stats, ctx.ownerInMetadata === true ? ctx : null)) {
    window.push(pending);
    if (window.length >= size) yield* flush();
  }
  if (window.length > 0) yield* flush();
}
