import { MigrateError, toMigrateError } from '../errors.js';
import type { DocumentRow } from '../sink/types.js';
import type { SourceRecord } from '../source/store.js';
import type { Embedder } from './embedder.js';
import { extractEntry } from './extract.js';
import { rowId, sha256Hex } from './rowId.js';

export interface RowStats {
  rows: number;
  skipped: { index: number; reason: string }[];
  warnings: string[];
  embedMs: number;
}

export function newRowStats(): RowStats {
  return { rows: 0, skipped: [], warnings: [], embedMs: 0 };
}

interface Pending {
  index: number;
  text: string;
  metadataJson: string;
  contentSha256: string;
}

export interface RowContext {
  userId: string;
  collection: string;
}

/** Extracts the texts of a store's records, recording skips and warnings, without embedding. */
export async function* extractTexts(records: AsyncIterable<SourceRecord>, stats: RowStats): AsyncGenerator<Pending> {
  for await (const record of records) {
    const extracted = extractEntry(record.entry, record.index);
    if (extracted.kind === 'skip') {
      stats.skipped.push({ index: record.index, reason: extracted.reason });
      continue;
    }
    stats.warnings.push(...extracted.warnings);
    yield {
      index: record.index,
      text: extracted.text,
      metadataJson: JSON.stringify(extracted.metadata),
      contentSha256: sha256Hex(extracted.text),
    };
  }
}

async function embedBatch(batch: Pending[], ctx: RowContext, embedder: Embedder, stats: RowStats): Promise<DocumentRow[]> {
  const started = performance.now();
  let vectors: Float32Array[];
  try {
    vectors = await embedder.embed(batch.map((p) => p.text));
  } catch (err) {
    throw toMigrateError(err, 'E_EMBED', `embedding entries ${batch[0]?.index}..${batch.at(-1)?.index} of ${ctx.userId}/${ctx.collection}`);
  }
  stats.embedMs += performance.now() - started;
  if (vectors.length !== batch.length) {
    throw new MigrateError('E_EMBED', `the model returned ${vectors.length} vectors for ${batch.length} texts`);
  }
  return batch.map((p, i) => {
    const embedding = vectors[i] as Float32Array;
    if (embedding.length !== embedder.dimensions) {
      throw new MigrateError('E_EMBED', `the model returned a ${embedding.length}-dimension vector, expected ${embedder.dimensions}`);
    }
    stats.rows++;
    return {
      id: rowId(ctx.userId, ctx.collection, p.index, p.contentSha256),
      userId: ctx.userId,
      collection: ctx.collection,
      text: p.text,
      embedding,
      metadataJson: p.metadataJson,
      contentSha256: p.contentSha256,
      embeddingModel: embedder.modelId,
      sourceIndex: p.index,
    };
  });
}

/**
 * Turns a store's records into batches of embedded rows. Memory holds one batch at a time:
 * the next batch is not read until the sink has taken the previous one.
 */
export async function* embedRowBatches(
  records: AsyncIterable<SourceRecord>,
  ctx: RowContext,
  embedder: Embedder,
  batchSize: number,
  stats: RowStats,
): AsyncGenerator<DocumentRow[]> {
  let batch: Pending[] = [];
  for await (const pending of extractTexts(records, stats)) {
    batch.push(pending);
    if (batch.length >= batchSize) {
      yield await embedBatch(batch, ctx, embedder, stats);
      batch = [];
    }
  }
  if (batch.length > 0) yield await embedBatch(batch, ctx, embedder, stats);
}
