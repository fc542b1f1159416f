/**
 * The embedding model a table's rows record (their `embedding_fingerprint`), for the commands
 * that embed a text to compare with those rows (query, verify): without --model they use it
 * rather than DEFAULTS.model, and refuse when the model's file no longer is the one that made
 * the rows.
 */
import { DTYPES, type EmbeddingDtype, type ModelConfig } from '../config.js';
import { MigrateError, toMigrateError } from '../errors.js';
import type { Sink } from '../sink/types.js';
import type { Embedder } from '../transform/embedder.js';
import { storedFields } from '../transform/embeddingSpace.js';
import { withEmbedder } from './resources.js';

/** What embeds the queries: a model (with the file hash its rows record, if any), or none (keep mode). */
export type TableModel = { kind: 'model'; model: ModelConfig; recorded: RecordedModel | null } | { kind: 'keep'; label: string };

export interface RecordedModel {
  model: string;
  /** SHA-256 of the ONNX file that made the rows; null when it could not be located then. */
  modelSha256: string | null;
  onnxFile: string | null;
  /** The dtype the rows record (absent from fp32 fingerprints: null). */
  dtype: EmbeddingDtype | null;
}

interface Identity {
  model: string;
  modelSha256: string | null;
  onnxFile: string | null;
  dtype: EmbeddingDtype | null;
  kept: boolean;
  rows: number;
}

function identityOf(fingerprint: string, rows: number): Identity | null {
  const f = storedFields(fingerprint);
  if (f === null || typeof f['model'] !== 'string') return null;
  const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const dtype = DTYPES.find((d) => d === f['dtype']) ?? null;
  return { model: f['model'], modelSha256: text(f['modelSha256']), onnxFile: text(f['onnxFile']), dtype, kept: f['kept'] === true, rows };
}

function describe(i: Identity): string {
  if (i.kept) return `stored vectors labelled ${i.model} (${i.rows} rows)`;
  return `${i.model}${i.dtype === null ? '' : ` ${i.dtype}`}${i.modelSha256 === null ? '' : ` (SHA-256 ${i.modelSha256})`}: ${i.rows} rows`;
}

/**
 * The model to embed with for `table` (one user's rows when `userId` is given, the rows a query
 * searches). A --model that was given wins. Otherwise the rows' recorded model; several of them
 * are refused (E_MODEL: which one would be a guess); no fingerprint at all (an empty table, rows
 * from before fingerprints) keeps the default, as before.
 */
export async function modelForTable(sink: Sink, table: string, model: ModelConfig, userId?: string): Promise<TableModel> {
  if (model.fromDefault !== true) return { kind: 'model', model, recorded: null };
  const found = (await sink.reads.embeddingFingerprints({ table }, userId)).flatMap((f) => (f.fingerprint === null ? [] : [identityOf(f.fingerprint, f.rows)]));
  const identities = new Map<string, Identity>();
  for (const i of found) {
    if (i === null) continue;
    const key = JSON.stringify([i.model, i.modelSha256, i.dtype, i.kept]);
    const seen = identities.get(key);
    identities.set(key, seen === undefined ? i : { ...seen, rows: seen.rows + i.rows });
  }
  const all = [...identities.values()];
  if (all.length > 1) {
    throw new MigrateError(
      'E_MODEL',
      `the rows of table ${table}${userId === undefined ? '' : ` for user ${userId}`} were embedded by ${all.length} models (${all.map(describe).join('; ')}); run doctor to see them, and pass --model to choose one`,
    );
  }
  const only = all[0];
  if (only === undefined) return { kind: 'model', model, recorded: null };
  if (only.kept) return { kind: 'keep', label: only.model };
  const { fromDefault: _default, ...rest } = model;
  // The rows' dtype too (a q8 table is queried with q8), unless --dtype chose one.
  const dtype = model.dtype ?? only.dtype;
  return {
    kind: 'model',
    model: { ...rest, id: only.model, ...(dtype === null ? {} : { dtype }) },
    recorded: { model: only.model, modelSha256: only.modelSha256, onnxFile: only.onnxFile, dtype: only.dtype },
  };
}

function recordedName(r: RecordedModel): string {
  return `${r.model} (SHA-256 ${r.modelSha256 ?? 'not recorded'}${r.onnxFile === null ? '' : ` of ${r.onnxFile}`})`;
}

/**
 * withEmbedder for a TableModel's model. For a recorded model, E_MODEL naming it and its SHA-256
 * when it cannot be loaded any more or its file now hashes differently: vectors of another model
 * would be compared with the rows and every distance would mean nothing.
 */
export async function withTableEmbedder<T>(choice: Extract<TableModel, { kind: 'model' }>, fn: (embedder: Embedder) => Promise<T>): Promise<T> {
  const recorded = choice.recorded;
  if (recorded === null) return withEmbedder(choice.model, fn);
  let loaded = false;
  try {
    return await withEmbedder(choice.model, (embedder) => {
      loaded = true;
      const now = embedder.identity.modelSha256;
      if (recorded.modelSha256 !== null && now !== recorded.modelSha256) {
        throw new MigrateError(
          'E_MODEL',
          `the table's rows were embedded with ${recordedName(recorded)}, but the model there now has ${now === null ? 'no ONNX file that can be hashed' : `SHA-256 ${now}`}; restore that model, or pass --model with the one the rows were made with`,
        );
      }
      return fn(embedder);
    });
  } catch (err) {
    if (loaded) throw err;
    const detail = toMigrateError(err, 'E_MODEL', 'loading it').message;
    throw new MigrateError('E_MODEL', `the table's rows were embedded with ${recordedName(recorded)}, which cannot be loaded any more (${detail}); restore it, or pass --model`, { cause: err });
  }
}
