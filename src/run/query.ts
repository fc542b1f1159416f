import { readFile } from 'node:fs/promises';
import type { QueryConfig } from '../config.js';
import { MigrateError } from '../errors.js';
import type { SearchHit, Sink, TargetSpec } from '../sink/types.js';
import { projectForSearch } from '../transform/pcaFit.js';
import { truncateForSearch } from '../transform/truncate.js';
import { fromPcaModelRecord } from './pcaModelRecord.js';
import { modelForTable, withTableEmbedder, type TableModel } from './recordedModel.js';
import { withSink } from './resources.js';
import { tableTruncation } from './truncation.js';

export interface QueryResult {
  hits: SearchHit[];
  /** The PCA model the query vector was projected with, if the table's rows were projected. */
  pcaModelId: string | null;
}

async function readVectorFile(file: string, stdin: () => Promise<string>): Promise<Float32Array> {
  const raw = file === '-' ? await stdin() : await readFile(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new MigrateError('E_USAGE', `--embedding-file ${file} is not JSON; it must hold an array of numbers`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new MigrateError('E_USAGE', `--embedding-file ${file} must hold a non-empty JSON array of finite numbers`);
  }
  return Float32Array.from(parsed as number[]);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  return out;
}

/**
 * Searches one user's rows. The query vector is the model's embedding of the text (or a vector
 * given as JSON), projected with the table's PCA model when its rows were projected, or truncated
 * like them (a vector of the table's own dimension is taken as already truncated), so load time
 * and query time land in the same space. Reads only.
 */
export function runQuery(config: QueryConfig, stdin: NodeJS.ReadableStream = process.stdin): Promise<QueryResult> {
  return withSink(config.database, { readOnly: true, purpose: 'query' }, async (sink) => {
    const record = await sink.pcaModels.active({ table: config.table });
    const target = await sink.schema.describeTable({ table: config.table });
    if (target === null) throw new MigrateError('E_USAGE', `table ${config.table} does not exist in ${sink.location}; run migrate first`);
    const truncation = record === null ? await tableTruncation(sink, config.table) : null;
    const expected = record?.sourceDimensions ?? truncation?.sourceDimensions ?? target.dimensions;
    const raw =
      config.embeddingFile !== null
        ? await readVectorFile(config.embeddingFile, () => readAll(stdin))
        : await withTableEmbedder(await queryModel(sink, config), async (embedder) => {
            if (embedder.dimensions !== expected) {
              throw new MigrateError('E_DIM_MISMATCH', `model ${embedder.modelId} produces ${embedder.dimensions}-dimension vectors but table ${config.table} expects ${expected}; query with the model used to migrate`);
            }
            const [v] = await embedder.embed([config.text ?? '']);
            if (v === undefined) throw new MigrateError('E_EMBED', 'the model returned no vector for the query');
            return v;
          });
    const preTruncated = truncation !== null && raw.length === truncation.dimensions;
    if (raw.length !== expected && !preTruncated) throw new MigrateError('E_DIM_MISMATCH', `the query vector has ${raw.length} dimensions; table ${config.table} expects ${expected}`);
    const embedding = record !== null ? projectForSearch(fromPcaModelRecord(record), raw) : truncation !== null && !preTruncated ? truncateForSearch(raw, truncation.dimensions) : raw;
    return { hits: await search(sink, target, config, embedding), pcaModelId: record?.id ?? null };
  });
}

/** The model of the rows searched (the user's), unless --model names one; keep-mode rows have none. */
async function queryModel(sink: Sink, config: QueryConfig): Promise<Extract<TableModel, { kind: 'model' }>> {
  const choice = await modelForTable(sink, config.table, config.model, config.userId);
  if (choice.kind === 'keep') {
    throw new MigrateError(
      'E_USAGE',
      `the rows of user ${config.userId} in ${config.table} are stored vectors (${choice.label}, loaded with --embeddings keep): no model here embeds like them; pass the query vector with --embedding-file, or name the model with --model`,
    );
  }
  return choice;
}

function search(sink: Sink, target: TargetSpec, config: QueryConfig, embedding: Float32Array): Promise<SearchHit[]> {
  const collection = config.collection === null ? {} : { collection: config.collection };
  return sink.reads.search(target, { userId: config.userId, ...collection, embedding, k: config.k });
}
