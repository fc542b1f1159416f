/** Reads of a documents table for reuse, verification, search and `doctor`. All work read-only. */
import pgvector from 'pgvector';
import { MigrateError } from '../errors.js';
import { missingTable, type Guard, type SinkAccess } from './access.js';
import { diagnoseTable, diagnosisOptions, readApplicationRows, type DiagnosisOptions } from './diagnosis.js';
import type { SqlRunner } from './driver.js';
import { distanceOperatorSql, resolveDistance, resolveTable, resolveVectorType, validateDimensions, vectorTypeSql, type ResolvedTable } from './identifiers.js';
import { isUuid } from './pcaModelRows.js';
import { assertCompatible, assertPcaModelColumn, readTableShape, type TableShape } from './schema.js';
import { useIterativeScan } from './searchSettings.js';
import { sqlFile } from './sqlFiles.js';
import { storeLabel } from '../storeLabel.js';
import { checkTable } from './target.js';
import type { ApplicationRows, EmbeddingFingerprint, SearchHit, StoredRowOwner, StoredRowSummary, StoreKey, TableDiagnosis, TableRef, TargetSpec, VectorType } from './types.js';
import { decodeVectorSend } from './vectorSend.js';

export interface SearchQuery {
  userId: string;
  collection?: string;
  embedding: Float32Array;
  k: number;
}

export interface ReadRepository {
  /** The distinct (user, collection) pairs that have rows; empty if the table does not exist. */
  listStoreKeys(target: TableRef): Promise<StoreKey[]>;
  /** Rows applications wrote (source_index NULL), per store in store order. */
  applicationRows(target: TableRef): Promise<ApplicationRows[]>;
  /** Distinct embedding fingerprints (of `userId`'s rows, when given) with row counts, most rows first. */
  embeddingFingerprints(target: TableRef, userId?: string): Promise<{ fingerprint: string | null; rows: number }[]>;
  /** Top-k rows of one user (optionally one collection) by the target's distance (HNSW scanned iteratively on pgvector 0.8+). */
  search(target: TargetSpec, query: SearchQuery): Promise<SearchHit[]>;
  /** Every row of one store (no embeddings), by source_index; empty when the table does not exist. */
  readStoreSummaries(target: TableRef, key: StoreKey): Promise<StoredRowSummary[]>;
  /** The store each of `ids` is in, by id (unknown ids give nothing). */
  readRowsByIds(target: TableRef, ids: readonly string[]): Promise<StoredRowOwner[]>;
  /** What `doctor` reports (TableDiagnosis); E_SCHEMA when the table is missing or not a documents table. */
  diagnose(target: TableRef, opts?: DiagnosisOptions): Promise<TableDiagnosis>;
  /** The store's stored embeddings of `shas` produced exactly as `fingerprint` says, bit-exact, keyed by hash. */
  lookupEmbeddings(target: TableRef, key: StoreKey, shas: readonly string[], fingerprint: EmbeddingFingerprint): Promise<Map<string, Float32Array>>;
}

interface SearchRow extends Record<string, unknown> {
  id: string;
  user_id: string;
  collection_name: string;
  text: string;
  source_index: number | null;
  distance: number;
  metadata: unknown;
}

interface SummaryRow extends Record<string, unknown> {
  id: string;
  user_id: string;
  collection_name: string;
  source_index: number | null;
  content_sha256: string | null;
  text_sha256: string;
  embedding_model: string | null;
  pca_model_id: string | null;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function readRepository(access: SinkAccess): ReadRepository {
  const { db, guard } = access;
  return {
    async listStoreKeys(target) {
      const table = resolveTable(target.table);
      return access.readIfExists(table, [], `listing the stores of ${table.display}`, async () => {
        const { rows } = await db.query<{ user_id: string; collection_name: string }>(sqlFile('queries/store_keys.sql', { table: table.quoted }));
        return rows.map((r) => ({ userId: r.user_id, collection: r.collection_name }));
      });
    },

    async applicationRows(target) {
      const table = resolveTable(target.table);
      return access.readIfExists(table, [], `counting the application rows of ${table.display}`, () => readApplicationRows(db, table));
    },

    async embeddingFingerprints(target, userId) {
      const { table } = checkTable(target);
      return guard('E_LOAD', `reading the embedding fingerprints of ${table.display}`, async () => {
        const shape = await readTableShape(db, table);
        if (!shape.hasFingerprintColumn) return [];
        const { rows } = await db.query<{ fingerprint: string | null; rows: number }>(sqlFile('queries/table_fingerprints.sql', { table: table.quoted }), [userId ?? null]);
        return rows.map((r) => ({ fingerprint: r.fingerprint, rows: Number(r.rows) }));
      });
    },

    async search(target, query) {
      validateDimensions(target.dimensions);
      const table = resolveTable(target.table);
      const requested = target.vectorType === undefined ? null : resolveVectorType(target.vectorType);
      if (query.embedding.length !== target.dimensions) {
        throw new MigrateError('E_DIM_MISMATCH', `query vector has ${query.embedding.length} dimensions; table ${table.display} expects ${target.dimensions}`);
      }
      if (!Number.isInteger(query.k) || query.k < 1) throw new MigrateError('E_USAGE', `k must be a positive integer, not ${query.k}`);
      return guard('E_LOAD', `searching ${table.display}`, async () => {
        const shape = await readTableShape(db, table);
        if (!shape.exists) throw missingTable(table);
        // Without an explicit type the column's own is used: reading cannot go wrong either way.
        const vectorType = requested ?? shape.vectorType ?? 'vector';
        assertCompatible(shape, table, target.dimensions, vectorType);
        const vectorText = pgvector.toSql(Array.from(query.embedding)) as string;
        const rows = await db.transaction(async (tx) => {
          await useIterativeScan(tx);
          const sql = sqlFile('queries/search.sql', { table: table.quoted, vector_type: vectorTypeSql(vectorType), op: distanceOperatorSql(resolveDistance(target.distance)) });
          return (await tx.query<SearchRow>(sql, [query.userId, query.collection ?? null, vectorText, query.k])).rows;
        });
        return rows.map((r) => ({
          id: r.id,
          userId: r.user_id,
          collection: r.collection_name,
          text: r.text,
          sourceIndex: r.source_index === null ? null : Number(r.source_index),
          distance: Number(r.distance),
          metadata: r.metadata,
        }));
      });
    },

    async readStoreSummaries(target, key) {
      const { table } = checkTable(target);
      return guard('E_LOAD', `reading the rows of ${storeLabel(key)} from ${table.display}`, async () => {
        const shape = await readTableShape(db, table);
        if (!shape.exists) return [];
        assertReadable(shape, table);
        const { rows } = await db.query<SummaryRow>(sqlFile('queries/store_summaries.sql', { table: table.quoted }), [key.userId, key.collection]);
        return rows.map((r) => ({
          id: r.id,
          userId: r.user_id,
          collection: r.collection_name,
          sourceIndex: r.source_index === null ? null : Number(r.source_index),
          contentSha256: r.content_sha256,
          textSha256: r.text_sha256,
          embeddingModel: r.embedding_model,
          pcaModelId: r.pca_model_id,
        }));
      });
    },

    async readRowsByIds(target, ids) {
      const { table } = checkTable(target);
      for (const id of ids) {
        if (typeof id !== 'string' || !isUuid(id)) throw new MigrateError('E_USAGE', `row id ${JSON.stringify(id)} is not a UUID`);
      }
      if (ids.length === 0) return [];
      return access.readIfExists(table, [], `reading rows of ${table.display} by id`, async () => {
        const { rows } = await db.query<{ id: string; user_id: string; collection_name: string }>(sqlFile('queries/rows_by_ids.sql', { table: table.quoted }), [
          [...new Set(ids.map((id) => id.toLowerCase()))],
        ]);
        return rows.map((r) => ({ id: r.id, userId: r.user_id, collection: r.collection_name }));
      });
    },

    async diagnose(target, opts = {}) {
      const { table } = checkTable(target);
      const { tolerance, examples } = diagnosisOptions(opts);
      return guard('E_LOAD', `diagnosing ${table.display}`, async () => {
        const shape = await readTableShape(db, table);
        if (!shape.exists) throw missingTable(table);
        // Every check needs the columns it reads and an embedding of a known type (for its norm function).
        assertCompatible(shape, table, shape.dimensions ?? 1, shape.vectorType ?? 'vector');
        return diagnoseTable(db, table, shape, tolerance, examples);
      });
    },

    async lookupEmbeddings(target, key, shas, fingerprint) {
      const { table } = checkTable(target);
      return lookupStored(db, guard, table, target, key, shas, fingerprint);
    },
  };
}

/**
 * ReadRepository.lookupEmbeddings over `db`: the sink's connection, or where a store writer reads
 * while its COPY runs (StoreWriter.lookup).
 */
export async function lookupStored(
  db: SqlRunner,
  guard: Guard,
  table: ResolvedTable,
  target: TableRef,
  key: StoreKey,
  shas: readonly string[],
  fingerprint: EmbeddingFingerprint,
): Promise<Map<string, Float32Array>> {
  for (const sha of shas) {
    if (typeof sha !== 'string' || !SHA256_HEX.test(sha)) throw new MigrateError('E_USAGE', `content hash ${JSON.stringify(sha)} is not 64 lower-case hex digits`);
  }
  if (typeof fingerprint.embeddingModel !== 'string') throw new MigrateError('E_USAGE', 'the embedding fingerprint lacks the embedding model');
  if (fingerprint.pcaModelId !== null && !isUuid(fingerprint.pcaModelId)) throw new MigrateError('E_USAGE', `PCA model id ${JSON.stringify(fingerprint.pcaModelId)} is not a UUID`);
  const found = new Map<string, Float32Array>();
  if (shas.length === 0) return found;
  return guard('E_LOAD', `reading the stored embeddings of ${storeLabel(key)} from ${table.display}`, async () => {
    const shape = await readTableShape(db, table);
    // No table, or one from before pca_model_id (its rows cannot match a fingerprint exactly):
    // nothing to reuse.
    if (!shape.exists || !shape.hasPcaModelColumn) return found;
    // A full fingerprint cannot be matched on a table from before fingerprints: reuse nothing.
    if (fingerprint.embeddingFingerprint !== undefined && !shape.hasFingerprintColumn) return found;
    const vectorType = readableVectorType(shape, table, target);
    const { rows } = await db.query<{ content_sha256: string; embedding: unknown }>(
      sqlFile('queries/lookup_embeddings.sql', { table: table.quoted, vector_type: vectorTypeSql(vectorType) }),
      [key.userId, key.collection, [...new Set(shas)], fingerprint.embeddingModel, fingerprint.pcaModelId, fingerprint.embeddingFingerprint ?? null],
    );
    for (const row of rows) found.set(row.content_sha256, decodeVectorSend(row.embedding, vectorType));
    return found;
  });
}

/** Reads need every column they select: E_SCHEMA naming what is missing. */
function assertReadable(shape: TableShape, table: ResolvedTable): void {
  if (shape.missingColumns.length > 0) assertCompatible(shape, table, shape.dimensions ?? 1, shape.vectorType ?? 'vector');
  // The reads select pca_model_id but not embedding_fingerprint: a table still without the latter
  // (not yet through ensureSchema) can be read and verified.
  assertPcaModelColumn(shape, table);
}

/**
 * The embedding column's type (or the target's, when it names one), checked against the target's
 * dimension when the caller gave one (a TargetSpec): reused vectors must fit the rows about to be
 * loaded. E_SCHEMA for a column that is neither vector(n) nor halfvec(n).
 */
function readableVectorType(shape: TableShape, table: ResolvedTable, target: TableRef): VectorType {
  const dimensions = 'dimensions' in target ? target.dimensions : (shape.dimensions ?? 1);
  const vectorType = 'dimensions' in target && target.vectorType !== undefined ? resolveVectorType(target.vectorType) : (shape.vectorType ?? 'vector');
  assertCompatible(shape, table, dimensions, vectorType);
  return vectorType;
}
