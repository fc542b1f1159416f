/**
 * PCA models as rows of `vector_pca_models` (schema/003_pca_models.sql): checks before writing,
 * float values to and from their SQL forms, and database rows back to PcaModelRecords.
 *
 * Everything must come back bit for bit (-0 and subnormals included) on both drivers:
 * - the float32 arrays (mean, components, evaluation) travel as bytea of little-endian IEEE 754
 *   values: no decimal conversion anywhere, and compact;
 * - the float8 values (explained_variance float8[], total_variance) are written as JavaScript's
 *   shortest round-trip decimal (which float8in parses exactly) and read back through float8send
 *   as big-endian bytes, because their text output is only exact while extra_float_digits >= 1.
 */
import { MigrateError } from '../errors.js';
import { MAX_DIMENSIONS } from './identifiers.js';
import type { NewPcaModel, PcaModelRecord } from './types.js';

/** Every platform Node runs on is little-endian today; the DataView paths keep others correct. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

/** float32 values as little-endian bytes (a copy: the caller may reuse its array). */
export function float32ToBytes(values: Float32Array): Buffer {
  const out = Buffer.allocUnsafe(values.byteLength);
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  } else {
    for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i] as number, 4 * i);
  }
  return out;
}

/** A finite double as text that float8in reads back exactly (`String(-0)` would lose the sign). */
export function float64Text(value: number): string {
  return Object.is(value, -0) ? '-0' : String(value);
}

/** A float8[] literal, `{v1,v2,…}`, of finite doubles. */
export function float64ArrayLiteral(values: Float64Array): string {
  return `{${Array.from(values, float64Text).join(',')}}`;
}

/**
 * The inverse of float32ToBytes. Always copies into a fresh, aligned array: pg returns bytea as a
 * Buffer that is a slice of a larger pooled ArrayBuffer at any byte offset, and a Float32Array
 * view needs an offset that is a multiple of 4.
 */
export function bytesToFloat32(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.byteLength / 4);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  }
  return out;
}

/** Doubles from consecutive float8send outputs (8 bytes each, big-endian). */
export function float8SendToFloat64(bytes: Uint8Array): Float64Array {
  const out = new Float64Array(bytes.byteLength / 8);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, false);
  return out;
}

/**
 * Refuses a model that is inconsistent or could only mislead later runs (a NaN component would
 * silently turn every projected vector into NaNs): E_INTERNAL, since models come from the fitter.
 */
export function checkNewModel(model: NewPcaModel): void {
  const fail = (detail: string): never => {
    throw new MigrateError('E_INTERNAL', `refusing to store the PCA model of ${model.table}: ${detail}`);
  };
  const { sourceDimensions: source, targetDimensions: target } = model;
  if (!Number.isInteger(source) || source < 1 || source > MAX_DIMENSIONS) fail(`source dimension ${source} is not an integer from 1 to ${MAX_DIMENSIONS}`);
  if (!Number.isInteger(target) || target < 1 || target > source) fail(`target dimension ${target} is not an integer from 1 to the source dimension ${source}`);
  if (!Number.isInteger(model.evaluationRows) || model.evaluationRows < 0) fail(`evaluationRows ${model.evaluationRows} is not a non-negative integer`);
  if (!Number.isInteger(model.sampleSize) || model.sampleSize < 0 || model.sampleSize > 2147483647) fail(`sampleSize ${model.sampleSize} is not a non-negative 32-bit integer`);
  if (!Number.isFinite(model.totalVariance)) fail(`total variance is ${model.totalVariance}`);
  if (typeof model.method !== 'string' || model.method === '') fail('method is empty');
  if (typeof model.fit !== 'object' || model.fit === null || Array.isArray(model.fit)) fail('fit is not a JSON object');
  const arrays: [string, Float32Array | Float64Array, number, boolean][] = [
    ['mean', model.mean, source, model.mean instanceof Float32Array],
    ['components', model.components, target * source, model.components instanceof Float32Array],
    ['explainedVariance', model.explainedVariance, target, model.explainedVariance instanceof Float64Array],
    ['evaluation', model.evaluation, model.evaluationRows * source, model.evaluation instanceof Float32Array],
  ];
  for (const [name, values, expected, typed] of arrays) {
    if (!typed) fail(`${name} is not a ${name === 'explainedVariance' ? 'Float64Array' : 'Float32Array'}`);
    if (values.length !== expected) fail(`${name} holds ${values.length} values, expected ${expected}`);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i] as number)) fail(`${name}[${i}] is ${values[i]}`);
    }
  }
}

/** Parameters of queries/pca_model_insert.sql, in order ($2 is the unqualified table name). */
export function insertParams(id: string, tableName: string, model: NewPcaModel): unknown[] {
  return [
    id,
    tableName,
    model.sourceDimensions,
    model.targetDimensions,
    float32ToBytes(model.mean),
    float32ToBytes(model.components),
    float64ArrayLiteral(model.explainedVariance),
    float64Text(model.totalVariance),
    model.sampleSize,
    model.method,
    JSON.stringify(model.fit),
    float32ToBytes(model.evaluation),
    model.evaluationRows,
  ];
}

/** A row of queries/pca_model_active.sql or pca_model_by_id.sql. */
export interface PcaModelRow extends Record<string, unknown> {
  id: string;
  created_at: unknown;
  source_dimensions: number;
  target_dimensions: number;
  mean: unknown;
  components: unknown;
  explained_variance: unknown;
  total_variance: unknown;
  sample_size: number;
  method: string;
  fit: unknown;
  evaluation: unknown;
  evaluation_rows: number;
}

/**
 * The record of a stored model, `table` as the caller named it. The lengths are checked again
 * (the table's CHECK constraints guarantee them for rows this tool wrote, not for rows edited by
 * hand): E_SCHEMA naming the model.
 */
export function recordFromRow(row: PcaModelRow, table: string): PcaModelRecord {
  const source = Number(row.source_dimensions);
  const target = Number(row.target_dimensions);
  const evaluationRows = Number(row.evaluation_rows);
  const bytes = (name: string, value: unknown, expectedBytes: number): Uint8Array => {
    if (!(value instanceof Uint8Array) || value.byteLength !== expectedBytes) {
      const got = value instanceof Uint8Array ? `${value.byteLength} bytes` : typeof value;
      throw new MigrateError('E_SCHEMA', `PCA model ${row.id} of table ${table} is damaged: ${name} holds ${got}, expected ${expectedBytes} bytes`);
    }
    return value;
  };
  const fit = typeof row.fit === 'string' ? (JSON.parse(row.fit) as unknown) : row.fit;
  return {
    id: row.id,
    table,
    createdAt: row.created_at instanceof Date ? row.created_at.toISOString() : String(row.created_at),
    sourceDimensions: source,
    targetDimensions: target,
    mean: bytesToFloat32(bytes('mean', row.mean, 4 * source)),
    components: bytesToFloat32(bytes('components', row.components, 4 * target * source)),
    explainedVariance: float8SendToFloat64(bytes('explained_variance', row.explained_variance, 8 * target)),
    totalVariance: float8SendToFloat64(bytes('total_variance', row.total_variance, 8))[0] as number,
    sampleSize: Number(row.sample_size),
    method: row.method,
    fit: typeof fit === 'object' && fit !== null && !Array.isArray(fit) ? (fit as Record<string, unknown>) : {},
    evaluation: bytesToFloat32(bytes('evaluation', row.evaluation, 4 * evaluationRows * source)),
    evaluationRows,
  };
}
