import type { StoredVector } from '../types.js';
import { pickleError } from './fail.js';
import type { AllowedGlobal } from './globals.js';
import { latin1Bytes } from './text.js';
import { describe, isA, type ArrayData, type ArrayState, type Dtype, type FileSlice, type FloatKind, type NdArray, type Value } from './values.js';

/**
 * numpy's pickling, modelled as data. The only calls numpy writes into a pickle are:
 *
 *   _reconstruct(ndarray, (0,), b'b')            -> an empty array, then BUILD with
 *       (1, shape, dtype, is_fortran, rawdata)     its state (protocols 2-4)
 *   dtype('f4', False, True)                       -> a dtype, then BUILD with
 *       (3, '<', None, None, None, -1, -1, 0)      its byte order
 *   _codecs.encode(str, 'latin1')                  -> bytes (protocol 2 carries bytes as str)
 *   _frombuffer(bytearray, dtype, shape, order)    -> an array (protocol 5)
 *
 * Each is recognised by its global and checked argument by argument; nothing is called.
 */

export const ITEM_SIZE: Readonly<Record<FloatKind, number>> = { f2: 2, f4: 4, f8: 8 };

export const DTYPE_NAME: Readonly<Record<FloatKind, 'float16' | 'float32' | 'float64'>> = { f2: 'float16', f4: 'float32', f8: 'float64' };

/** Reads the bytes a large str argument decodes to, validating it; supplied by the VM. */
export type SliceValidator = (slice: FileSlice) => Promise<number>;

export interface NumpyContext {
  readonly maxDimensions: number;
  readonly validateSlice: SliceValidator;
}

function isGlobal(value: Value, kind: AllowedGlobal['kind']): boolean {
  return isA(value, 'global') && value.kind === kind;
}

function tupleItems(value: Value, what: string): readonly Value[] {
  if (isA(value, 'tuple')) return value.items;
  throw pickleError(`gives ${what} ${describe(value)} where numpy writes a tuple`);
}

const KIND_NAMES: Record<string, string> = {
  b: 'bool',
  i: 'int',
  u: 'uint',
  f: 'float',
  c: 'complex',
  O: 'object',
  S: 'bytes',
  U: 'str',
  V: 'void (structured)',
  M: 'datetime64',
  m: 'timedelta64',
};

/** dtype('f4', False, True): only float16/32/64 hold vectors. */
function makeDtype(args: readonly Value[]): Dtype {
  const code = args[0];
  if (typeof code !== 'string') throw pickleError(`constructs a numpy dtype from ${describe(code ?? null)} instead of a type code`);
  if (code === 'f2' || code === 'f4' || code === 'f8') return { type: 'dtype', kind: code, littleEndian: true };
  const match = /^[<>|=]?([a-zA-Z])(\d*)$/.exec(code);
  const kind = match?.[1] ?? '';
  const bits = match?.[2] ? `${Number(match[2]) * (kind === 'U' ? 32 : 8)}` : '';
  const name = KIND_NAMES[kind] !== undefined ? `${KIND_NAMES[kind]}${kind === 'O' || kind === 'V' ? '' : bits}` : 'an unknown type';
  throw pickleError(`holds a numpy array of dtype ${name} ('${code.slice(0, 20)}'); only float16, float32 and float64 arrays hold vectors`);
}

/** BUILD on a dtype: (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata]). */
function setDtypeState(dtype: Dtype, state: Value): void {
  const items = tupleItems(state, 'a numpy dtype the state');
  const order = items[1];
  if (typeof items[0] !== 'number' || typeof order !== 'string') throw pickleError('gives a numpy dtype a state that is not (version, byteorder, ...)');
  for (const extra of items.slice(2, 5)) {
    if (extra !== null) throw pickleError('holds a structured or sub-array numpy dtype; only plain float arrays hold vectors');
  }
  switch (order) {
    case '<':
      dtype.littleEndian = true;
      break;
    case '>':
      dtype.littleEndian = false;
      break;
    case '|': // "not applicable" (1-byte types); numpy never writes it for floats
    case '=': // native order of the machine that wrote the file; every machine numpy wheels exist for is little-endian
      dtype.littleEndian = true;
      break;
    default:
      throw pickleError(`gives a numpy dtype the byte order ${JSON.stringify(order.slice(0, 10))}; expected '<', '>', '|' or '='`);
  }
}

function shapeOf(value: Value, ctx: NumpyContext): number[] {
  const items = tupleItems(value, 'a numpy array shape');
  const shape: number[] = [];
  for (const dim of items) {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) throw pickleError(`gives a numpy array the shape entry ${describe(dim)}`);
    shape.push(dim);
  }
  if (shape.length === 1 || shape.length === 2) {
    const dims = shape[shape.length - 1] ?? 0;
    if (dims > ctx.maxDimensions) throw pickleError(`holds numpy vectors of ${dims} dimensions, over the limit of ${ctx.maxDimensions} (maxDimensions)`);
    return shape;
  }
  const desc = shape.length === 0 ? 'a 0-D numpy array (a scalar)' : `a ${shape.length}-D numpy array (shape ${shape.join('x')})`;
  throw pickleError(`holds ${desc}; vectors are 1-D arrays, or the rows of one 2-D array`);
}

/** Bytes-like data: bytes, or a str that numpy encodes as latin-1. */
async function arrayData(value: Value, ctx: NumpyContext, allowStr: boolean): Promise<ArrayData> {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string' && allowStr) return latin1Bytes(value, 'numpy array data');
  if (isA(value, 'latin1') && allowStr) return value.bytes;
  if (isA(value, 'slice') && (value.of === 'bytes' || allowStr)) {
    if (value.decodedLength === null) value.decodedLength = await ctx.validateSlice(value);
    return value;
  }
  if (isA(value, 'list')) {
    throw pickleError('holds a numpy array of Python objects (its data is a list); only float arrays hold vectors');
  }
  throw pickleError(`gives a numpy array ${describe(value)} as its data`);
}

function byteLength(data: ArrayData): number {
  return data instanceof Uint8Array ? data.length : (data.decodedLength ?? data.length);
}

function makeState(shape: number[], dtype: Dtype, fortran: boolean, data: ArrayData): ArrayState {
  const expected = shape.reduce((a, b) => a * b, 1) * ITEM_SIZE[dtype.kind];
  if (byteLength(data) !== expected) {
    throw pickleError(`holds a numpy array of shape ${shape.join('x')} (${dtype.kind}) with ${byteLength(data)} bytes of data instead of ${expected}`);
  }
  // The dtype's byte order is copied: the dtype object is shared (memoized) across arrays.
  return { shape, kind: dtype.kind, littleEndian: dtype.littleEndian, fortran: fortran && shape.length === 2, data };
}

function asDtype(value: Value): Dtype {
  if (isA(value, 'dtype')) return value;
  throw pickleError(`gives a numpy array ${describe(value)} where numpy writes its dtype`);
}

/** REDUCE on an allowed global. */
export async function reduceAllowed(callable: AllowedGlobal, argsValue: Value, ctx: NumpyContext): Promise<Value> {
  const args = tupleItems(argsValue, `${callable.name} the arguments`);
  switch (callable.kind) {
    case 'reconstruct': {
      if (!isGlobal(args[0] ?? null, 'ndarray')) throw pickleError(`calls ${callable.name} on ${describe(args[0] ?? null)} instead of numpy.ndarray`);
      tupleItems(args[1] ?? null, `${callable.name} the shape`);
      return { type: 'ndarray', state: null, sealed: false };
    }
    case 'dtype':
      return makeDtype(args);
    case 'encode': {
      const encoding = args[1];
      if (encoding !== 'latin1' && encoding !== 'latin-1') {
        throw pickleError(`calls _codecs.encode with the encoding ${describe(encoding ?? null)}; numpy writes 'latin1'`);
      }
      const text = args[0] ?? null;
      if (typeof text === 'string') return latin1Bytes(text, 'bytes written as latin-1 text');
      if (isA(text, 'latin1')) return text.bytes;
      if (isA(text, 'slice') && text.of === 'str') {
        const bytes: FileSlice = { ...text, of: 'bytes' };
        bytes.decodedLength = await ctx.validateSlice(bytes);
        return bytes;
      }
      throw pickleError(`calls _codecs.encode on ${describe(text)}`);
    }
    case 'frombuffer': {
      const [buffer, dtypeValue, shapeValue, order] = args;
      const dtype = asDtype(dtypeValue ?? null);
      const shape = shapeOf(shapeValue ?? null, ctx);
      if (order !== 'C' && order !== 'F') throw pickleError(`calls _frombuffer with the order ${describe(order ?? null)}; numpy writes 'C' or 'F'`);
      const data = await arrayData(buffer ?? null, ctx, false);
      return { type: 'ndarray', state: makeState(shape, dtype, order === 'F', data), sealed: false };
    }
    case 'ndarray':
      throw pickleError('calls numpy.ndarray directly, which numpy never writes');
  }
}

/** BUILD: sets the state of an array made by _reconstruct, or the byte order of a dtype. */
export async function buildAllowed(target: NdArray | Dtype, stateValue: Value, ctx: NumpyContext): Promise<void> {
  if (target.type === 'dtype') {
    setDtypeState(target, stateValue);
    return;
  }
  if (target.state !== null) throw pickleError('sets the state of a numpy array twice');
  if (target.sealed) throw pickleError('sets the state of a numpy array after it was used');
  const items = tupleItems(stateValue, 'a numpy array the state');
  // (version, shape, dtype, is_fortran, rawdata), or the older form without the version.
  const [shapeValue, dtypeValue, fortranValue, dataValue] = items.length === 5 ? items.slice(1) : items.length === 4 ? items : [];
  if (items.length === 5 && typeof items[0] !== 'number') throw pickleError('gives a numpy array a state without a version number');
  if (shapeValue === undefined) throw pickleError(`gives a numpy array a state of ${items.length} items instead of 5`);
  const shape = shapeOf(shapeValue, ctx);
  const dtype = asDtype(dtypeValue ?? null);
  if (typeof fortranValue !== 'boolean' && fortranValue !== 0 && fortranValue !== 1) throw pickleError('gives a numpy array an is_fortran flag that is not a bool');
  const data = await arrayData(dataValue ?? null, ctx, true);
  target.state = makeState(shape, dtype, fortranValue === true || fortranValue === 1, data);
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE 754 half precision to a JS number (exactly representable in float32). */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * Raw element bytes to a vector: float32 stays Float32Array, float64 Float64Array, float16 is
 * widened to Float32Array (exact). Always a copy, so the result never aliases a reused buffer.
 */
export function decodeFloats(bytes: Uint8Array, kind: FloatKind, littleEndian: boolean): StoredVector {
  const n = bytes.length / ITEM_SIZE[kind];
  if (kind !== 'f2' && littleEndian === LITTLE_ENDIAN_HOST) {
    const copy = bytes.slice();
    return kind === 'f4' ? new Float32Array(copy.buffer, 0, n) : new Float64Array(copy.buffer, 0, n);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (kind === 'f8') {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, littleEndian);
    return out;
  }
  const out = new Float32Array(n);
  if (kind === 'f4') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, littleEndian);
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToNumber(view.getUint16(i * 2, littleEndian));
  }
  return out;
}
