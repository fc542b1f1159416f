import { MigrateError } from '../../errors.js';
import type { SampleInput, Vector } from './types.js';

/** A validated sample with uniform row access, whichever shape the caller passed. */
export interface Sample {
  rows: number;
  cols: number;
  row(i: number): Vector;
}

function isVector(value: unknown): value is Vector {
  return value instanceof Float32Array || value instanceof Float64Array;
}

/** Shape checks only; values are checked for finiteness while the mean is accumulated. */
export function toSample(input: SampleInput): Sample {
  if (Array.isArray(input)) {
    const rows = input as readonly unknown[];
    if (rows.length === 0) throw new MigrateError('E_USAGE', 'PCA sample is empty: at least 2 vectors are needed');
    const first = rows[0];
    if (!isVector(first)) throw new MigrateError('E_USAGE', 'PCA sample vector 0 is not a Float32Array or Float64Array');
    const cols = first.length;
    if (cols === 0) throw new MigrateError('E_VECTOR', 'PCA sample vector 0 is empty');
    rows.forEach((r, i) => {
      if (!isVector(r)) throw new MigrateError('E_USAGE', `PCA sample vector ${i} is not a Float32Array or Float64Array`);
      if (r.length !== cols) {
        throw new MigrateError('E_VECTOR', `PCA sample is ragged: vector ${i} has ${r.length} dimensions, vector 0 has ${cols}`);
      }
    });
    const vectors = rows as readonly Vector[];
    return { rows: vectors.length, cols, row: (i) => vectors[i]! };
  }
  const { rows, cols, data } = input as { rows: number; cols: number; data: unknown };
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new MigrateError('E_USAGE', `PCA sample matrix has an invalid shape ${String(rows)} x ${String(cols)}`);
  }
  if (!(data instanceof Float32Array)) throw new MigrateError('E_USAGE', 'PCA sample matrix data must be a Float32Array');
  if (data.length !== rows * cols) {
    throw new MigrateError('E_USAGE', `PCA sample matrix holds ${data.length} values, its shape ${rows} x ${cols} needs ${rows * cols}`);
  }
  if (rows === 0) throw new MigrateError('E_USAGE', 'PCA sample is empty: at least 2 vectors are needed');
  if (cols === 0) throw new MigrateError('E_VECTOR', 'PCA sample vectors are empty (0 dimensions)');
  return { rows, cols, row: (i) => data.subarray(i * cols, (i + 1) * cols) };
}

/** Column means in float64; throws E_VECTOR naming the first non-finite value. */
export function sampleMean(sample: Sample): Float64Array {
  const { rows, cols } = sample;
  const mean = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const r = sample.row(i);
    for (let j = 0; j < cols; j++) {
      const x = r[j]!;
      if (!Number.isFinite(x)) {
        throw new MigrateError('E_VECTOR', `PCA sample vector ${i} holds a non-finite value (${x}) at dimension ${j}`);
      }
      mean[j]! += x;
    }
  }
  for (let j = 0; j < cols; j++) mean[j] = mean[j]! / rows;
  return mean;
}

/** Rows from..to-1, centred, as one row-major float64 block. */
export function centredBlock(sample: Sample, mean: Float64Array, from: number, to: number): Float64Array {
  const { cols } = sample;
  const out = new Float64Array((to - from) * cols);
  for (let i = from; i < to; i++) {
    const r = sample.row(i);
    const off = (i - from) * cols;
    for (let j = 0; j < cols; j++) out[off + j] = r[j]! - mean[j]!;
  }
  return out;
}
