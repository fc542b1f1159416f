import type { StoredVector } from '../types.js';
import { pickleError, vectorError } from './fail.js';
import { decodeFloats, DTYPE_NAME } from './numpy.js';
import { describe, isA, type FloatKind, type Value } from './values.js';

export type PickleShape = 'list-of-lists' | 'list-of-arrays' | 'matrix' | 'empty';
export type PickleDtype = 'float64' | 'float32' | 'float16' | 'mixed';

/**
 * Checks every vector as it leaves the decoder, in store order: same kind of item throughout,
 * same length, not empty, every value finite. Keeps only counters, never the vectors.
 */
export class VectorChecker {
  count = 0;
  dimensions: number | null = null;
  shape: PickleShape = 'empty';
  private dtype: PickleDtype | null = null;

  constructor(private readonly maxDimensions: number) {}

  get dtypeSummary(): PickleDtype {
    // An empty list says nothing about its element type; Python floats are float64.
    return this.dtype ?? 'float64';
  }

  /** An item appended to the top-level list: a list of numbers or a 1-D numpy array. */
  fromListItem(item: Value): StoredVector {
    const index = this.count;
    if (isA(item, 'list')) {
      this.expectShape('list-of-lists', index, 'a list of numbers');
      item.sealed = true;
      // A list of BINFLOATs is already unboxed; copy it anyway, as a shared list is emitted again.
      const vector = item.floats !== null ? item.floats.slice(0, item.floatCount) : this.listToVector(item.items, index);
      return this.accept(vector, 'float64');
    }
    if (isA(item, 'ndarray')) {
      const state = item.state;
      if (state === null) throw pickleError(`gives vector ${index} as a numpy array whose data was never set`);
      if (state.shape.length !== 1) throw pickleError(`holds a ${state.shape.length}-D numpy array as vector ${index}; vectors in a list are 1-D arrays`);
      if (!(state.data instanceof Uint8Array)) throw pickleError(`holds vector ${index} as an array too large to read (limit maxInlineBytes)`);
      this.expectShape('list-of-arrays', index, 'a numpy array');
      item.sealed = true;
      return this.accept(decodeFloats(state.data, state.kind, state.littleEndian), DTYPE_NAME[state.kind]);
    }
    throw pickleError(`holds ${describe(item)} as vector ${index}; vectors are lists of floats or 1-D numpy arrays`);
  }

  /** A row of the top-level 2-D array. */
  fromMatrixRow(raw: Uint8Array, kind: FloatKind, littleEndian: boolean): StoredVector {
    this.shape = 'matrix';
    return this.accept(decodeFloats(raw, kind, littleEndian), DTYPE_NAME[kind]);
  }

  /** A 2-D array with no rows still says how long its vectors are. */
  emptyMatrix(columns: number, kind: FloatKind): void {
    this.shape = 'matrix';
    this.dimensions = columns;
    this.dtype = DTYPE_NAME[kind];
  }

  private expectShape(shape: 'list-of-lists' | 'list-of-arrays', index: number, what: string): void {
    if (this.shape === 'empty') this.shape = shape;
    else if (this.shape !== shape) {
      const before = this.shape === 'list-of-lists' ? 'lists of floats' : 'numpy arrays';
      throw pickleError(`mixes kinds of vectors: vector ${index} is ${what}, the vectors before it are ${before}`);
    }
  }

  private listToVector(items: readonly Value[], index: number): Float64Array {
    const out = new Float64Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const v = items[i];
      if (typeof v === 'number') out[i] = v;
      else if (typeof v === 'bigint') out[i] = Number(v);
      else throw pickleError(`holds ${describe(v ?? null)} at position ${i} of vector ${index}; vectors hold numbers`);
    }
    return out;
  }

  private accept(vector: StoredVector, dtype: PickleDtype): StoredVector {
    const index = this.count;
    if (vector.length === 0) throw vectorError(index, 'is empty');
    if (vector.length > this.maxDimensions) throw vectorError(index, `has ${vector.length} dimensions, over the limit of ${this.maxDimensions} (maxDimensions)`);
    if (this.dimensions === null) this.dimensions = vector.length;
    else if (vector.length !== this.dimensions) {
      throw vectorError(index, `has ${vector.length} dimensions but the vectors before it have ${this.dimensions} (ragged vectors)`);
    }
    for (let i = 0; i < vector.length; i++) {
      const x = vector[i] ?? 0;
      if (!Number.isFinite(x)) throw vectorError(index, `holds ${x} at position ${i}; vectors must be finite`);
    }
    this.dtype = this.dtype === null || this.dtype === dtype ? dtype : 'mixed';
    this.count++;
    return vector;
  }
}
