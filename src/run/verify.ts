import type { MigrateConfig } from '../config.js';
import { toMigrateError } from '../errors.js';
import type { Sink, StoredRowSummary, TargetSpec } from '../sink/types.js';
import { discoverSource } from '../source/discoverSource.js';
import { KeyRing, keyCandidates } from '../source/keyRing.js';
import { inspectStore, readStoreRecords } from '../source/store.js';
import type { StoreLocation } from '../source/types.js';
import type { Embedder } from '../transform/embedder.js';
import { projectForSearch } from '../transform/pcaFit.js';
import { pendingRowId } from '../transform/rowId.js';
import { extractTexts, newRowStats } from '../transform/rows.js';
import { truncateForSearch } from '../transform/truncate.js';
import { fromPcaModelRecord } from './pcaModelRecord.js';
import { storeLabel } from '../storeLabel.js';
import { modelForTable, withTableEmbedder } from './recordedModel.js';
import { withSink, withTableReader } from './resources.js';
import { tableTruncation } from './truncation.js';

export interface Mismatch {
  store: string;
  kind: 'count' | 'missing-row' | 'extra-row' | 'text-changed' | 'hash-mismatch' | 'wrong-user' | 'search' | 'not-loaded-but-has-rows' | 'unreadable';
  detail: string;
}

export interface VerifyResult {
  /**
   * rows: the tool's rows of the store; applicationRows: rows an application wrote into it since
   * (no source_index), which are not the source's and not mismatches either.
   */
  stores: { store: string; expectedRows: number; rows: number; applicationRows: number; ok: boolean }[];
  mismatches: Mismatch[];
}

interface Expected {
  index: number;
  sha: string;
  id: string;
  text: string;
  vector?: Float32Array | Float64Array;
}

async function expectedRows(store: StoreLocation, keys: KeyRing, withVectors: boolean): Promise<Expected[] | null> {
  const { key } = await keys.forStore(store);
  const inspection = await inspectStore(store, key);
  // A store the tool refuses must have nothing in the table: a failed store is never half-written.
  if (inspection.error !== null) return null;
  const out: Expected[] = [];
  const records = readStoreRecords(store, key, { withVectors });
  for await (const p of extractTexts(records, newRowStats())) {
    out.push({ index: p.index, sha: p.contentSha256, id: pendingRowId(store.userId, store.collection, p), text: p.text, ...(p.vector === undefined ? {} : { vector: p.vector }) });
  }
  return out;
}

/** Rows are matched by id: a row id encodes user, collection, entry index and text hash. */
function compare(label: string, expected: Expected[], rows: StoredRowSummary[], mismatches: Mismatch[]): void {
  if (rows.length !== expected.length) mismatches.push({ store: label, kind: 'count', detail: `source has ${expected.length} rows to load, the table holds ${rows.length}` });
  const rowsById = new Map(rows.map((r) => [r.id, r]));
  const wanted = new Set(expected.map((e) => e.id));
  for (const e of expected) {
    const row = rowsById.get(e.id);
    if (row === undefined) {
      mismatches.push({ store: label, kind: 'missing-row', detail: `entry ${e.index} (row ${e.id}) is not in the store's rows` });
      continue;
    }
    if (row.contentSha256 !== e.sha || row.sourceIndex !== e.index) mismatches.push({ store: label, kind: 'hash-mismatch', detail: `row ${row.id}: its hash or index does not match entry ${e.index}` });
    if (row.textSha256 !== row.contentSha256) mismatches.push({ store: label, kind: 'text-changed', detail: `entry ${e.index} (row ${row.id}): its text was changed after loading (content_sha256 no longer matches)` });
  }
  for (const r of rows) if (!wanted.has(r.id)) mismatches.push({ store: label, kind: 'extra-row', detail: `row ${r.id} (entry ${r.sourceIndex}) is not one of the store's source entries` });
}

async function searchCheck(sink: Sink, target: TargetSpec, store: StoreLocation, first: Expected, queryVector: Float32Array, mismatches: Mismatch[]): Promise<void> {
  const [hit] = await sink.reads.search(target, { userId: store.userId, collection: store.collection, embedding: queryVector, k: 1 });
  // Two entries with the same text are equally near: the row returned must then carry that text.
  if (hit === undefined || (hit.id !== first.id && hit.text !== first.text)) {
    mismatches.push({ store: storeLabel(store), kind: 'search', detail: `a search with entry ${first.index}'s own text returned ${hit === undefined ? 'nothing' : `row ${hit.id} (entry ${hit.sourceIndex})`} instead of row ${first.id}` });
  }
}

/**
 * Proves a migration from the source: every store's rows against its entries (count, ids, text
 * hashes, texts unchanged since loading), no row of a store under another user, a failed store
 * with no rows, and a search with each store's first text returning that row first.
 */
export function runVerify(config: MigrateConfig): Promise<VerifyResult> {
  return withSink(config.database, { readOnly: true, purpose: 'verify' }, async (sink) => {
    const described = await sink.schema.describeTable({ table: config.table });
    const pca = await sink.pcaModels.active({ table: config.table });
    const tableExists = described !== null;
    // No table: every store's rows are missing (searched, never, with a placeholder dimension).
    const target: TargetSpec = described ?? { table: config.table, dimensions: 1 };
    const model = pca === null ? null : fromPcaModelRecord(pca);
    const truncation = pca === null && tableExists ? await tableTruncation(sink, config.table) : null;
    const reduce = (raw: Float32Array): Float32Array =>
      model !== null ? projectForSearch(model, raw) : truncation !== null ? truncateForSearch(raw, truncation.dimensions) : raw;
    // Without --embeddings keep or --model: the model the rows record (keep mode too).
    const choice = config.embeddings === 'keep' ? null : await modelForTable(sink, config.table, config.model);
    const keep = choice === null || choice.kind === 'keep';
    const check = (embedder: Embedder | null): Promise<VerifyResult> => withTableReader(config.tableSource, { withVectors: keep }, async (table) => {
      const result: VerifyResult = { stores: [], mismatches: [] };
      const keys = new KeyRing(keyCandidates(config.masterKeys, config.tryDefaultKey));
      for await (const event of discoverSource(config, table)) {
        if (event.kind !== 'store') continue;
        const store = event.store;
        if (config.collections !== null && !config.collections.includes(store.collection)) continue;
        const label = storeLabel(store);
        const before = result.mismatches.length;
        let expected: Expected[] | null = null;
        let rows: StoredRowSummary[] = [];
        let applicationRows = 0;
        try {
          expected = await expectedRows(store, keys, keep);
          const all = tableExists ? await sink.reads.readStoreSummaries(target, store) : [];
          rows = all.filter((r) => r.sourceIndex !== null);
          applicationRows = all.length - rows.length;
          if (expected === null) {
            if (rows.length > 0) result.mismatches.push({ store: label, kind: 'not-loaded-but-has-rows', detail: `the source store is invalid, yet the table holds ${rows.length} rows for it` });
          } else {
            compare(label, expected, rows, result.mismatches);
            const owners = await sink.reads.readRowsByIds(target, expected.map((e) => e.id));
            for (const o of owners) {
              if (o.userId !== store.userId || o.collection !== store.collection) {
                result.mismatches.push({ store: label, kind: 'wrong-user', detail: `row ${o.id} belongs to ${label} but is stored under ${storeLabel(o)}` });
              }
            }
            const first = expected[0];
            if (first !== undefined && rows.length > 0) {
              const raw = keep ? Float32Array.from(first.vector ?? []) : ((await embedder?.embed([first.text]))?.[0] ?? new Float32Array(0));
              await searchCheck(sink, target, store, first, reduce(raw), result.mismatches);
            }
          }
        } catch (err) {
          const e = toMigrateError(err, 'E_INTERNAL', label);
          result.mismatches.push({ store: label, kind: 'unreadable', detail: `${e.code}: ${e.message}` });
        }
        result.stores.push({ store: label, expectedRows: expected?.length ?? 0, rows: rows.length, applicationRows, ok: result.mismatches.length === before });
      }
      return result;
    });
    return choice === null || choice.kind === 'keep' ? check(null) : withTableEmbedder(choice, check);
  });
}
