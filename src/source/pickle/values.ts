import type { AllowedGlobal } from './globals.js';

/**
 * The Python objects a vector pickle can build, as plain data. Nothing here has behaviour that
 * a pickle could trigger: REDUCE and BUILD on the allowed numpy globals are interpreted by the
 * VM as constructors of these records.
 */

export type FloatKind = 'f2' | 'f4' | 'f8';

/** numpy.dtype('f4', False, True), possibly with its byte order set by BUILD. */
export interface Dtype {
  readonly type: 'dtype';
  readonly kind: FloatKind;
  littleEndian: boolean;
}

/**
 * A str/bytes argument too large to read: it stays in the file. `utf8` slices are protocol 2
 * latin-1 text (one byte per char once decoded); `decodedLength` is known once validated.
 */
export interface FileSlice {
  readonly type: 'slice';
  readonly of: 'str' | 'bytes';
  readonly offset: number;
  readonly length: number;
  readonly encoding: 'raw' | 'utf8';
  decodedLength: number | null;
}

/**
 * A long str whose chars are all U+0000..U+00FF, kept as its latin-1 bytes: this is how protocol
 * 2 carries array data (`_codecs.encode(str, 'latin1')`), and decoding it into a JS string only
 * to encode it back would cost more than the rest of the decoding.
 */
export interface Latin1Str {
  readonly type: 'latin1';
  readonly bytes: Uint8Array;
}

/** Raw array data: in memory, or a raw (latin-1 decoded) range of the file. */
export type ArrayData = Uint8Array | FileSlice;

/** An ndarray; `state` is null between `_reconstruct(...)` and its BUILD. */
export interface NdArray {
  readonly type: 'ndarray';
  state: ArrayState | null;
  /** Set once the array is a vector in the output or inside another object: BUILD is refused then. */
  sealed: boolean;
}

export interface ArrayState {
  readonly shape: readonly number[];
  readonly kind: FloatKind;
  readonly littleEndian: boolean;
  readonly fortran: boolean;
  readonly data: ArrayData;
}

export interface PyList {
  readonly type: 'list';
  /**
   * While a list holds only floats from BINFLOAT, they are kept unboxed in `floats` (the first
   * `floatCount` entries) and `items` is empty; anything else moves them into `items` first.
   */
  items: Value[];
  floats: Float64Array | null;
  floatCount: number;
  depth: number;
  weight: number;
  /**
   * Set once the list is a vector in the output or inside another object. pickle.dump fills a
   * list before it uses it, so appending afterwards is refused: what was emitted cannot change,
   * and a container's weight (see weightOf) stays exact.
   */
  sealed: boolean;
}

export interface PyTuple {
  readonly type: 'tuple';
  readonly items: readonly Value[];
  readonly depth: number;
  readonly weight: number;
}

/** Dicts never belong to a vector pickle; only their size is tracked, to bound them. */
export interface PyDict {
  readonly type: 'dict';
  size: number;
  depth: number;
  weight: number;
  sealed: boolean;
}

/**
 * The top-level list. Its items are never stored: APPEND/APPENDS hand them straight to the
 * output, which is what keeps memory bounded on a large store.
 */
export interface TopList {
  readonly type: 'toplist';
}

export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | FileSlice
  | Latin1Str
  | PyList
  | PyTuple
  | PyDict
  | TopList
  | AllowedGlobal
  | NdArray
  | Dtype;

/** The values that carry a `type` tag. */
export type Tagged = Exclude<Value, null | boolean | number | bigint | string | Uint8Array>;

/** `isA(value, 'list')`: narrows a value to the record with that tag. */
export function isA<K extends Tagged['type']>(value: Value, type: K): value is Extract<Tagged, { type: K }> {
  return value !== null && typeof value === 'object' && !(value instanceof Uint8Array) && value.type === type;
}

export function newList(items: Value[], depth: number, weight: number): PyList {
  return { type: 'list', items, floats: null, floatCount: 0, depth, weight, sealed: false };
}

/** Fixed part of the weight of an object or a buffer. */
export const OBJECT_WEIGHT = 64;

/**
 * Approximate bytes a value keeps alive, counting shared parts again (an upper bound). Containers
 * carry their weight, updated as they are filled; they are sealed before a parent holds them.
 */
export function weightOf(value: Value): number {
  if (value === null) return 8;
  switch (typeof value) {
    case 'boolean':
      return 8;
    case 'number':
      return 16;
    case 'bigint':
      return 1100; // LONG1/LONG4 and text ints are capped near 1 KB
    case 'string':
      return 32 + 2 * value.length;
    default:
      break;
  }
  if (value instanceof Uint8Array) return OBJECT_WEIGHT + value.length;
  switch (value.type) {
    case 'list':
    case 'tuple':
    case 'dict':
      return value.weight;
    case 'latin1':
      return OBJECT_WEIGHT + value.bytes.length;
    case 'ndarray':
      return OBJECT_WEIGHT + (value.state !== null && value.state.data instanceof Uint8Array ? value.state.data.length : OBJECT_WEIGHT);
    default:
      return OBJECT_WEIGHT;
  }
}

export function listLength(list: PyList): number {
  return list.items.length + list.floatCount;
}

export function depthOf(value: Value): number {
  if (value !== null && typeof value === 'object' && 'depth' in value) return value.depth;
  return 0;
}

/** A short description for error messages ("a dict", "a str", "a numpy array"). */
export function describe(value: Value): string {
  if (value === null) return 'None';
  switch (typeof value) {
    case 'boolean':
      return 'a bool';
    case 'number':
      return Number.isInteger(value) ? 'an int' : 'a float';
    case 'bigint':
      return 'an int';
    case 'string':
      return 'a str';
    default:
      break;
  }
  if (value instanceof Uint8Array) return 'a bytes object';
  switch (value.type) {
    case 'slice':
      return value.of === 'str' ? 'a str' : 'a bytes object';
    case 'latin1':
      return 'a str';
    case 'list':
    case 'toplist':
      return 'a list';
    case 'tuple':
      return 'a tuple';
    case 'dict':
      return 'a dict';
    case 'global':
      return value.name;
    case 'ndarray':
      return value.state === null ? 'a numpy array' : `a ${value.state.shape.length}-D numpy array`;
    case 'dtype':
      return 'a numpy dtype';
  }
}
