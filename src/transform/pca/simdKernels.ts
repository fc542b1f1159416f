/**
 * Float64 vector kernels in WebAssembly SIMD (f64x2) for the tridiagonalization's
 * matrix-vector work, which onnxruntime cannot do well: its products read the whole symmetric
 * matrix (twice the memory traffic of one triangle, and the trailing matrix then stays out of the
 * 32 MB L3 for most of the reduction) and pay a session call per column. Plain JavaScript loops
 * are scalar and measured 3-5x slower than these.
 *
 * Hand-assembled like onnxGraph.ts encodes ONNX: the module is five small functions, and a
 * toolchain (wat2wasm, a compiler) would be a build dependency for a few hundred bytes. Opcodes
 * are those of the WebAssembly core specification 2.0 (SIMD proposal merged).
 *
 * All pointers are byte offsets into the module's memory, lengths are element counts.
 */
import { MigrateError } from '../../errors.js';

/** The part of the WebAssembly JavaScript API used here (not in this project's TypeScript libs). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}

const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;

// Instructions used (core spec 5.4).
const BLOCK = 0x02;
const LOOP = 0x03;
const IF = 0x04;
const END = 0x0b;
const BR = 0x0c;
const BR_IF = 0x0d;
const CALL = 0x10;
const EMPTY = 0x40;
const GET = 0x20;
const SET = 0x21;
const F64_LOAD = 0x2b;
const F64_STORE = 0x39;
const I32_CONST = 0x41;
const F64_CONST = 0x44;
const I32_GE_U = 0x4f;
const I32_GE_S = 0x4e;
const I32_ADD = 0x6a;
const I32_AND = 0x71;
const I32_SHL = 0x74;
const F64_ADD = 0xa0;
const F64_MUL = 0xa2;
const SIMD = 0xfd;
const V128_LOAD = [SIMD, 0x00];
const V128_STORE = [SIMD, 0x0b];
const F64X2_SPLAT = [SIMD, 0x14];
const F64X2_LANE = [SIMD, 0x21];
const F64X2_ADD = [SIMD, 0xf0, 0x01];
const F64X2_MUL = [SIMD, 0xf2, 0x01];
/** memarg: alignment 2^3 (every operand is a float64 array), no static offset. */
const MEM = [3, 0];

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 for the small constants used here. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const get = (i: number): number[] => [GET, ...uleb(i)];
const set = (i: number): number[] => [SET, ...uleb(i)];
const i32 = (n: number): number[] => [I32_CONST, ...sleb(n)];
/** local p += bytes */
const advance = (p: number, bytes: number): number[] => [...get(p), ...i32(bytes), I32_ADD, ...set(p)];
/** local dst = local p + (local len & mask) * 8 */
const endPointer = (dst: number, p: number, len: number, mask: number): number[] => [
  ...get(p),
  ...get(len),
  ...i32(mask),
  I32_AND,
  ...i32(3),
  I32_SHL,
  I32_ADD,
  ...set(dst),
];
/** while (local p < local end) body */
const whileBelow = (p: number, end: number, body: number[]): number[] => [
  BLOCK,
  EMPTY,
  LOOP,
  EMPTY,
  ...get(p),
  ...get(end),
  I32_GE_U,
  BR_IF,
  1,
  ...body,
  BR,
  0,
  END,
  END,
];
const sumLanes = (v: number): number[] => [...get(v), ...F64X2_LANE, 0, ...get(v), ...F64X2_LANE, 1, F64_ADD];

interface FuncSpec {
  name: string;
  params: number[];
  results: number[];
  locals: number[];
  body: number[];
}

// dot(a, b, len) -> sum a[k] b[k]; two vector accumulators so consecutive adds do not wait on each other.
const DOT: FuncSpec = {
  name: 'dot',
  params: [I32, I32, I32],
  results: [F64],
  locals: [V128, V128, I32, F64], // 3 acc0, 4 acc1, 5 end, 6 s
  body: [
    ...endPointer(5, 0, 2, -4),
    ...whileBelow(0, 5, [
      ...get(3), ...get(0), ...V128_LOAD, ...MEM, ...get(1), ...V128_LOAD, ...MEM, ...F64X2_MUL, ...F64X2_ADD, ...set(3),
      ...get(4), ...get(0), ...V128_LOAD, 3, 16, ...get(1), ...V128_LOAD, 3, 16, ...F64X2_MUL, ...F64X2_ADD, ...set(4),
      ...advance(0, 32),
      ...advance(1, 32),
    ]),
    ...get(3), ...get(4), ...F64X2_ADD, ...set(3),
    ...sumLanes(3), ...set(6),
    ...endPointer(5, 0, 2, 3),
    ...whileBelow(0, 5, [
      ...get(6), ...get(0), F64_LOAD, ...MEM, ...get(1), F64_LOAD, ...MEM, F64_MUL, F64_ADD, ...set(6),
      ...advance(0, 8),
      ...advance(1, 8),
    ]),
    ...get(6),
  ],
};

// axpy(alpha, x, y, len): y[k] += alpha x[k].
const AXPY: FuncSpec = {
  name: 'axpy',
  params: [F64, I32, I32, I32],
  results: [],
  locals: [V128, I32], // 4 alpha splat, 5 end
  body: [
    ...get(0), ...F64X2_SPLAT, ...set(4),
    ...endPointer(5, 1, 3, -2),
    ...whileBelow(1, 5, [
      ...get(2), ...get(2), ...V128_LOAD, ...MEM, ...get(4), ...get(1), ...V128_LOAD, ...MEM, ...F64X2_MUL, ...F64X2_ADD, ...V128_STORE, ...MEM,
      ...advance(1, 16),
      ...advance(2, 16),
    ]),
    ...get(3), ...i32(1), I32_AND, IF, EMPTY,
    ...get(2), ...get(2), F64_LOAD, ...MEM, ...get(0), ...get(1), F64_LOAD, ...MEM, F64_MUL, F64_ADD, F64_STORE, ...MEM,
    END,
  ],
};

// dotAxpy(a, u, y, len, alpha) -> sum a[k] u[k], and y[k] += alpha a[k]: one row of a symmetric
// product from its lower triangle, reading the row once for both of its uses. Four elements per
// iteration into two accumulators, so consecutive adds do not wait on each other.
const DOT_AXPY: FuncSpec = {
  name: 'dotAxpy',
  params: [I32, I32, I32, I32, F64],
  results: [F64],
  locals: [V128, V128, I32, V128, F64, V128], // 5 acc0, 6 alpha splat, 7 end, 8 row, 9 s, 10 acc1
  body: [
    ...get(4), ...F64X2_SPLAT, ...set(6),
    ...endPointer(7, 0, 3, -4),
    ...whileBelow(0, 7, [
      ...get(0), ...V128_LOAD, ...MEM, ...set(8),
      ...get(5), ...get(8), ...get(1), ...V128_LOAD, ...MEM, ...F64X2_MUL, ...F64X2_ADD, ...set(5),
      ...get(2), ...get(2), ...V128_LOAD, ...MEM, ...get(6), ...get(8), ...F64X2_MUL, ...F64X2_ADD, ...V128_STORE, ...MEM,
      ...get(0), ...V128_LOAD, 3, 16, ...set(8),
      ...get(10), ...get(8), ...get(1), ...V128_LOAD, 3, 16, ...F64X2_MUL, ...F64X2_ADD, ...set(10),
      ...get(2), ...get(2), ...V128_LOAD, 3, 16, ...get(6), ...get(8), ...F64X2_MUL, ...F64X2_ADD, ...V128_STORE, 3, 16,
      ...advance(0, 32),
      ...advance(1, 32),
      ...advance(2, 32),
    ]),
    ...get(5), ...get(10), ...F64X2_ADD, ...set(5),
    ...sumLanes(5), ...set(9),
    ...endPointer(7, 0, 3, 3),
    ...whileBelow(0, 7, [
      ...get(9), ...get(0), F64_LOAD, ...MEM, ...get(1), F64_LOAD, ...MEM, F64_MUL, F64_ADD, ...set(9),
      ...get(2), ...get(2), F64_LOAD, ...MEM, ...get(4), ...get(0), F64_LOAD, ...MEM, F64_MUL, F64_ADD, F64_STORE, ...MEM,
      ...advance(0, 8),
      ...advance(1, 8),
      ...advance(2, 8),
    ]),
    ...get(9),
  ],
};

// symv(a, stride, n, u, y): y = A u for the n x n symmetric A at a (row stride in bytes), read
// from its lower triangle and diagonal only. y is overwritten.
const SYMV: FuncSpec = {
  name: 'symv',
  params: [I32, I32, I32, I32, I32],
  results: [],
  locals: [I32, I32, F64], // 5 r, 6 row pointer, 7 u[r]
  body: [
    // y = 0
    ...get(4), ...set(6),
    ...get(4), ...get(2), ...i32(3), I32_SHL, I32_ADD, ...set(5),
    ...whileBelow(6, 5, [...get(6), F64_CONST, 0, 0, 0, 0, 0, 0, 0, 0, F64_STORE, ...MEM, ...advance(6, 8)]),
    ...i32(0), ...set(5),
    ...get(0), ...set(6),
    BLOCK, EMPTY, LOOP, EMPTY,
    ...get(5), ...get(2), I32_GE_S, BR_IF, 1,
    // u[r]
    ...get(3), ...get(5), ...i32(3), I32_SHL, I32_ADD, F64_LOAD, ...MEM, ...set(7),
    // y[r] address on the stack for the store below
    ...get(4), ...get(5), ...i32(3), I32_SHL, I32_ADD,
    // y[r] + dotAxpy(row, u, y, r, u[r]) + a[r][r] u[r]
    ...get(4), ...get(5), ...i32(3), I32_SHL, I32_ADD, F64_LOAD, ...MEM,
    ...get(6), ...get(3), ...get(4), ...get(5), ...get(7), CALL, 2, F64_ADD,
    ...get(6), ...get(5), ...i32(3), I32_SHL, I32_ADD, F64_LOAD, ...MEM, ...get(7), F64_MUL, F64_ADD,
    F64_STORE, ...MEM,
    ...get(6), ...get(1), I32_ADD, ...set(6),
    ...get(5), ...i32(1), I32_ADD, ...set(5),
    BR, 0, END, END,
  ],
};

// gemv(a, stride, rows, cols, x, y, alpha): y[r] += alpha (A[r, 0:cols] . x) for r < rows.
const GEMV: FuncSpec = {
  name: 'gemv',
  params: [I32, I32, I32, I32, I32, I32, F64],
  results: [],
  locals: [I32], // 7 end of y
  body: [
    ...get(5), ...get(2), ...i32(3), I32_SHL, I32_ADD, ...set(7),
    ...whileBelow(5, 7, [
      ...get(5),
      ...get(5), F64_LOAD, ...MEM,
      ...get(6), ...get(0), ...get(4), ...get(3), CALL, 0, F64_MUL, F64_ADD,
      F64_STORE, ...MEM,
      ...get(0), ...get(1), I32_ADD, ...set(0),
      ...advance(5, 8),
    ]),
  ],
};

// gemvT(a, stride, rows, cols, x, out): out[0:cols] += sum_r x[r] A[r, 0:cols].
const GEMV_T: FuncSpec = {
  name: 'gemvT',
  params: [I32, I32, I32, I32, I32, I32],
  results: [],
  locals: [I32], // 6 end of x
  body: [
    ...get(4), ...get(2), ...i32(3), I32_SHL, I32_ADD, ...set(6),
    ...whileBelow(4, 6, [
      ...get(4), F64_LOAD, ...MEM, ...get(0), ...get(5), ...get(3), CALL, 1,
      ...get(0), ...get(1), I32_ADD, ...set(0),
      ...advance(4, 8),
    ]),
  ],
};

// Order fixes the function indices the CALLs above use: dot 0, axpy 1, dotAxpy 2.
const FUNCTIONS: readonly FuncSpec[] = [DOT, AXPY, DOT_AXPY, SYMV, GEMV, GEMV_T];

function section(id: number, contents: number[]): number[] {
  return [id, ...uleb(contents.length), ...contents];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const bytes = [...Buffer.from(s, 'utf8')];
  return [...uleb(bytes.length), ...bytes];
}

function encodeModule(): Uint8Array {
  const types = FUNCTIONS.map((f) => [0x60, ...vec(f.params.map((p) => [p])), ...vec(f.results.map((r) => [r]))]);
  const code = FUNCTIONS.map((f) => {
    const body = [...vec(f.locals.map((l) => [1, l])), ...f.body, END];
    return [...uleb(body.length), ...body];
  });
  const exports = [...FUNCTIONS.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]), [...name('memory'), 0x02, 0]];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(3, vec(FUNCTIONS.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, 0]])), // one memory, no pages until sized
    ...section(7, vec(exports)),
    ...section(10, vec(code)),
  ]);
}

const PAGE = 65536;

/**
 * One instance of the kernels with its own memory of at least `doubles` float64 elements, laid out
 * by the caller. Instances are per use (one tridiagonalization), so nothing is shared between fits.
 */
export class SimdKernels {
  /** The whole memory as float64: index i is byte offset 8 i. */
  readonly f64: Float64Array;
  readonly dot: (a: number, b: number, len: number) => number;
  readonly axpy: (alpha: number, x: number, y: number, len: number) => void;
  readonly symv: (a: number, stride: number, n: number, u: number, y: number) => void;
  readonly gemv: (a: number, stride: number, rows: number, cols: number, x: number, y: number, alpha: number) => void;
  readonly gemvT: (a: number, stride: number, rows: number, cols: number, x: number, out: number) => void;

  constructor(doubles: number) {
    const bytes = doubles * 8;
    if (bytes > 2 ** 32 - PAGE) {
      throw new MigrateError('E_USAGE', `PCA matrix of ${doubles} float64 values exceeds the 4 GB a WebAssembly memory can hold; fit fewer source dimensions`);
    }
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const instance = new wasm.Instance(new wasm.Module(encodeModule()), {});
    const ex = instance.exports;
    const memory = ex['memory'] as WasmMemory;
    memory.grow(Math.ceil(bytes / PAGE));
    this.f64 = new Float64Array(memory.buffer);
    this.dot = ex['dot'] as SimdKernels['dot'];
    this.axpy = ex['axpy'] as SimdKernels['axpy'];
    this.symv = ex['symv'] as SimdKernels['symv'];
    this.gemv = ex['gemv'] as SimdKernels['gemv'];
    this.gemvT = ex['gemvT'] as SimdKernels['gemvT'];
  }
}
