/**
 * The embedding space of a table's vectors: what produced them (a model file, or vectors kept
 * from the stores), and what was done to them after (PCA, truncation) in which column type.
 * Vectors of two spaces must never share an index. Its canonical serialization is what every row
 * carries in `embedding_fingerprint`, what the ledger compares (`migration_stores`) and what a
 * re-embedding job is keyed by: existing tables and ledgers hold these strings, so the format is
 * frozen (test/embedding-space.test.ts pins it).
 */
import { DTYPE_SUFFIX, type ModelDtype } from './modelSource.js';
import type { PoolingMode } from './sentenceTransformers.js';

/** What makes two models' vectors comparable: the model, its ONNX file and its pooling. */
export interface ModelIdentity {
  model: string;
  /** SHA-256 of the ONNX file that was loaded, or null when its file could not be located (hub model not in a file cache). */
  modelSha256: string | null;
  onnxFile: string | null;
  /** From the model's sentence-transformers files (sentenceTransformers.ts); mean and true without them. */
  pooling: PoolingMode;
  normalized: boolean;
  dimensions: number;
  /** sentence_bert_config.json's max_seq_length; absent without it, so older spaces serialize as they did. */
  maxSeqLength?: number;
  /** The dtype asked for when it is not fp32 (absent for fp32, so fp32 spaces serialize as they did). */
  dtype?: ModelDtype;
}

/** Where the vectors came from: a model (re-embedding), or the stores' own vectors under a label. */
export type SpaceOrigin = ({ kind: 'model' } & Omit<ModelIdentity, 'dimensions'>) | { kind: 'kept'; model: string };

/** What was done to the origin's vectors. A PCA space is the model's: another fit is another space. */
export type SpaceReduction = { kind: 'none' } | { kind: 'pca'; modelId: string } | { kind: 'truncate' };

export interface EmbeddingSpace {
  readonly origin: SpaceOrigin;
  /** The origin's dimension. */
  readonly sourceDimensions: number;
  /** The vectors' dimension as stored (sourceDimensions unless reduced). */
  readonly dimensions: number;
  readonly reduction: SpaceReduction;
  readonly vectorType: 'vector' | 'halfvec';
}

/** The space of a model's vectors, unreduced. */
export function modelSpace(identity: ModelIdentity, vectorType: EmbeddingSpace['vectorType']): EmbeddingSpace {
  const { dimensions, ...rest } = identity;
  return { origin: { kind: 'model', ...rest }, sourceDimensions: dimensions, dimensions, reduction: { kind: 'none' }, vectorType };
}

/** The space of vectors kept from the stores under `label` (keep mode), unreduced. */
export function keptSpace(label: string, dimensions: number, vectorType: EmbeddingSpace['vectorType']): EmbeddingSpace {
  return { origin: { kind: 'kept', model: label }, sourceDimensions: dimensions, dimensions, reduction: { kind: 'none' }, vectorType };
}

/** `space` projected by the PCA model `model` (vectorize.ts projecting). */
export function projectedSpace(space: EmbeddingSpace, model: { id: string; targetDimensions: number }): EmbeddingSpace {
  return { ...space, dimensions: model.targetDimensions, reduction: { kind: 'pca', modelId: model.id } };
}

/** `space` truncated to its first `dimensions` numbers (vectorize.ts truncating). */
export function truncatedSpace(space: EmbeddingSpace, dimensions: number): EmbeddingSpace {
  return { ...space, dimensions, reduction: { kind: 'truncate' } };
}

/**
 * The fingerprint of a stored vector after a re-layout (`relayout`) into `vectorType(dimensions)`:
 * the same space in the new column type, projected by the PCA model `pcaModelId` when given, else
 * truncated when the dimension shrinks. Null for a fingerprint that is not canonical
 * (`parseSpace`): what it describes cannot be rewritten.
 */
export function relaidFingerprint(stored: string, layout: { vectorType: EmbeddingSpace['vectorType']; dimensions: number; pcaModelId?: string }): string | null {
  const space = parseSpace(stored);
  if (space === null) return null;
  const retyped: EmbeddingSpace = { ...space, vectorType: layout.vectorType };
  if (layout.pcaModelId !== undefined) return serializeSpace(projectedSpace(retyped, { id: layout.pcaModelId, targetDimensions: layout.dimensions }));
  return serializeSpace(layout.dimensions === space.dimensions ? retyped : truncatedSpace(retyped, layout.dimensions));
}

/** The label rows carry in `embedding_model`: the model id, or keep mode's label. */
export function spaceLabel(space: EmbeddingSpace): string {
  return space.origin.model;
}

/** The PCA model the space's vectors were projected with (the rows' `pca_model_id`), or null. */
export function pcaModelOf(space: EmbeddingSpace): string | null {
  return space.reduction.kind === 'pca' ? space.reduction.modelId : null;
}

type Field = string | number | boolean | null;

/** The fields as they have been written since fingerprints exist; optional ones absent, never null. */
function fieldsOf(space: EmbeddingSpace): Record<string, Field> {
  const { origin, reduction } = space;
  const fields: Record<string, Field> =
    origin.kind === 'kept'
      ? { model: origin.model, kept: true }
      : {
          model: origin.model,
          modelSha256: origin.modelSha256,
          onnxFile: origin.onnxFile,
          pooling: origin.pooling,
          normalized: origin.normalized,
          ...(origin.maxSeqLength === undefined ? {} : { maxSeqLength: origin.maxSeqLength }),
          ...(origin.dtype === undefined ? {} : { dtype: origin.dtype }),
        };
  fields['dimensions'] = space.dimensions;
  if (reduction.kind === 'pca') Object.assign(fields, { sourceDimensions: space.sourceDimensions, pcaModelId: reduction.modelId });
  if (reduction.kind === 'truncate') Object.assign(fields, { sourceDimensions: space.sourceDimensions, reduction: 'truncate' });
  fields['vectorType'] = space.vectorType;
  return fields;
}

/** The canonical form: JSON with sorted keys, so equal spaces give equal strings (rows, ledger and jobs compare them as text). */
export function serializeSpace(space: EmbeddingSpace): string {
  const fields = fieldsOf(space);
  return JSON.stringify(Object.fromEntries(Object.keys(fields).sort().map((k) => [k, fields[k]])));
}

/**
 * The space a canonical string describes; null for anything `serializeSpace` would not have
 * written exactly so (NULL, rows of older versions, text written by hand). Readers of single
 * facts of stored rows, which must accept those too, use `storedFields`.
 */
export function parseSpace(text: string | null): EmbeddingSpace | null {
  const f = storedFields(text);
  if (f === null) return null;
  const { model, dimensions, vectorType, sourceDimensions, pcaModelId } = f;
  if (typeof model !== 'string' || typeof dimensions !== 'number' || (vectorType !== 'vector' && vectorType !== 'halfvec')) return null;
  const origin = originOf(f, model);
  if (origin === null) return null;
  const source = typeof sourceDimensions === 'number' ? sourceDimensions : dimensions;
  const reduction: SpaceReduction = typeof pcaModelId === 'string' ? { kind: 'pca', modelId: pcaModelId } : f['reduction'] === 'truncate' ? { kind: 'truncate' } : { kind: 'none' };
  const space: EmbeddingSpace = { origin, sourceDimensions: source, dimensions, reduction, vectorType };
  // Whatever else the text holds (unknown keys, another order) is not the canonical form.
  return serializeSpace(space) === text ? space : null;
}

function originOf(f: Record<string, unknown>, model: string): SpaceOrigin | null {
  if (f['kept'] === true) return { kind: 'kept', model };
  const { modelSha256, onnxFile, pooling, normalized, maxSeqLength, dtype } = f;
  const nullableText = (v: unknown) => v === null || typeof v === 'string';
  if (!nullableText(modelSha256) || !nullableText(onnxFile) || typeof normalized !== 'boolean') return null;
  if (pooling !== 'mean' && pooling !== 'cls' && pooling !== 'max') return null;
  return {
    kind: 'model',
    model,
    modelSha256: modelSha256 as string | null,
    onnxFile: onnxFile as string | null,
    pooling,
    normalized,
    ...(typeof maxSeqLength === 'number' ? { maxSeqLength } : {}),
    ...(isDtype(dtype) ? { dtype } : {}),
  };
}

function isDtype(v: unknown): v is ModelDtype {
  return typeof v === 'string' && Object.hasOwn(DTYPE_SUFFIX, v);
}

/**
 * A stored `embedding_fingerprint` read back as its fields, leniently: null for none, or for text
 * that is not a JSON object (rows of older versions, or written by hand): callers treat that as
 * "nothing recorded".
 */
export function storedFields(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
}

/** A table's truncation as its rows' stored space records it (`truncatedSpace`), or null. */
export function truncationOf(text: string | null): { sourceDimensions: number; dimensions: number } | null {
  const f = storedFields(text);
  if (f === null) return null;
  if (f['reduction'] !== 'truncate' || typeof f['sourceDimensions'] !== 'number' || typeof f['dimensions'] !== 'number') return null;
  return { sourceDimensions: f['sourceDimensions'], dimensions: f['dimensions'] };
}
