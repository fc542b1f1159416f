/**
 * The few dense products the PCA fit and projection need, behind one interface with two engines:
 * onnxruntime-node (its CPU MatMul/Gemm are multi-threaded BLAS-class kernels, 50-100x faster than a
 * JavaScript loop) and plain JavaScript (small inputs, where session start-up costs more than the
 * arithmetic, and a fallback when the native module cannot load).
 */
import { MigrateError } from '../../errors.js';
import { encodeModel, type GraphSpec, type OnnxElemType } from './onnxGraph.js';

export type FloatArray = Float32Array | Float64Array;

/** A row-major matrix. */
export interface Mat<T extends FloatArray = FloatArray> {
  data: T;
  rows: number;
  cols: number;
}

export interface GemmOptions<T extends FloatArray> {
  transA?: boolean;
  transB?: boolean;
  /** Added to the product (same shape as the result). */
  c?: Mat<T>;
  alpha?: 1 | -1;
}

export type EngineName = 'onnxruntime' | 'js';

/** x -> x B^T for a fixed float32 B: the projection's product, with B prepared once. */
export interface ConstantProduct {
  multiply(x: Mat<Float32Array>): Promise<Float32Array>;
  release(): Promise<void>;
}

export interface LinAlg {
  readonly engine: EngineName;
  /** alpha * op(A) op(B) (+ C), in the element type of A; all operands share it. */
  gemm<T extends FloatArray>(a: Mat<T>, b: Mat<T>, opts?: GemmOptions<T>): Promise<T>;
  constantProduct(b: Mat<Float32Array>): Promise<ConstantProduct>;
  dispose(): Promise<void>;
}

function resultDims<T extends FloatArray>(a: Mat<T>, b: Mat<T>, opts: GemmOptions<T>): { m: number; k: number; n: number } {
  const m = opts.transA ? a.cols : a.rows;
  const k = opts.transA ? a.rows : a.cols;
  const kb = opts.transB ? b.cols : b.rows;
  const n = opts.transB ? b.rows : b.cols;
  if (k !== kb) throw new MigrateError('E_INTERNAL', `gemm: inner dimensions differ (${k} vs ${kb})`);
  if (opts.c && (opts.c.rows !== m || opts.c.cols !== n)) {
    throw new MigrateError('E_INTERNAL', `gemm: C is ${opts.c.rows}x${opts.c.cols}, expected ${m}x${n}`);
  }
  return { m, k, n };
}

function alike<T extends FloatArray>(like: T, length: number): T {
  return (like instanceof Float64Array ? new Float64Array(length) : new Float32Array(length)) as T;
}

function transpose<T extends FloatArray>(x: Mat<T>): T {
  const out = alike(x.data, x.data.length);
  for (let r = 0; r < x.rows; r++) {
    const off = r * x.cols;
    for (let c = 0; c < x.cols; c++) out[c * x.rows + r] = x.data[off + c]!;
  }
  return out;
}

/** Row-oriented loops with a float64 accumulator row, so float32 operands lose nothing extra. */
export class JsLinAlg implements LinAlg {
  readonly engine = 'js' as const;

  async gemm<T extends FloatArray>(a: Mat<T>, b: Mat<T>, opts: GemmOptions<T> = {}): Promise<T> {
    return this.gemmSync(a, b, opts);
  }

  gemmSync<T extends FloatArray>(a: Mat<T>, b: Mat<T>, opts: GemmOptions<T> = {}): T {
    const { m, k, n } = resultDims(a, b, opts);
    const A = opts.transA ? transpose(a) : a.data; // m x k
    const B = opts.transB ? transpose(b) : b.data; // k x n
    const out = alike(a.data, m * n);
    if (opts.c) out.set(opts.c.data);
    const sign = opts.alpha ?? 1;
    const acc = new Float64Array(n);
    for (let i = 0; i < m; i++) {
      acc.fill(0);
      const aOff = i * k;
      for (let p = 0; p < k; p++) {
        const aip = A[aOff + p]!;
        if (aip === 0) continue;
        const bOff = p * n;
        for (let j = 0; j < n; j++) acc[j]! += aip * B[bOff + j]!;
      }
      const oOff = i * n;
      for (let j = 0; j < n; j++) out[oOff + j]! += sign * acc[j]!;
    }
    return out;
  }

  async constantProduct(b: Mat<Float32Array>): Promise<ConstantProduct> {
    return {
      multiply: async (x) => this.gemmSync(x, b, { transB: true }),
      release: async () => {},
    };
  }

  async dispose(): Promise<void> {}
}

type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;

let ortModule: Promise<Ort | null> | null = null;
let ortLoadError = '';

/**
 * onnxruntime-node arrives with @huggingface/transformers; imported lazily because commands that
 * never reduce dimensions should not load a native module, and resolved to null (with the reason
 * kept for a note) when the platform has no binary.
 */
export function loadOnnxRuntime(): Promise<Ort | null> {
  ortModule ??= import('onnxruntime-node').then(
    (mod) => {
      // A CommonJS module: the namespace may carry the exports only under `default`.
      const candidate = (mod as { default?: Ort }).default ?? mod;
      return typeof candidate.InferenceSession?.create === 'function' ? candidate : null;
    },
    (err: unknown) => {
      ortLoadError = err instanceof Error ? err.message : String(err);
      return null;
    },
  );
  return ortModule;
}

export function onnxRuntimeLoadError(): string {
  return ortLoadError;
}

function elemTypeOf(data: FloatArray): OnnxElemType {
  return data instanceof Float64Array ? 'float64' : 'float32';
}

export interface OrtOptions {
  /** Threads per product; default onnxruntime's own choice (one per physical core). */
  threads?: number;
}

export class OrtLinAlg implements LinAlg {
  readonly engine = 'onnxruntime' as const;
  private readonly sessions = new Map<string, Promise<Session>>();

  constructor(
    private readonly ort: Ort,
    private readonly options: OrtOptions = {},
  ) {}

  private session(key: string, build: () => GraphSpec): Promise<Session> {
    let s = this.sessions.get(key);
    if (!s) {
      s = this.ort.InferenceSession.create(encodeModel(build()), this.sessionOptions());
      this.sessions.set(key, s);
    }
    return s;
  }

  private sessionOptions(): import('onnxruntime-node').InferenceSession.SessionOptions {
    return {
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      ...(this.options.threads ? { intraOpNumThreads: this.options.threads } : {}),
      // The tridiagonalization makes dozens of calls between stretches of JavaScript; spinning worker threads
      // then compete for the cores with the JavaScript between calls (and with anything else on a
      // shared machine), which measured slower and far more erratic than letting them sleep.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    };
  }

  private tensor(data: FloatArray, rows: number, cols: number): import('onnxruntime-node').Tensor {
    return new this.ort.Tensor(elemTypeOf(data), data, [rows, cols]);
  }

  async gemm<T extends FloatArray>(a: Mat<T>, b: Mat<T>, opts: GemmOptions<T> = {}): Promise<T> {
    const { m, n } = resultDims(a, b, opts);
    const elemType = elemTypeOf(a.data);
    const transA = opts.transA ? 1 : 0;
    const transB = opts.transB ? 1 : 0;
    const alpha = opts.alpha ?? 1;
    const withC = opts.c !== undefined;
    const session = await this.session(`gemm/${elemType}/${transA}${transB}/${withC ? 'c' : ''}/${alpha}`, () => ({
      elemType,
      inputs: [
        { name: 'A', rank: 2 },
        { name: 'B', rank: 2 },
        ...(withC ? [{ name: 'C', rank: 2 }] : []),
      ],
      outputs: [{ name: 'Y', rank: 2 }],
      nodes: [
        {
          op: 'Gemm',
          inputs: withC ? ['A', 'B', 'C'] : ['A', 'B'],
          outputs: ['Y'],
          attrs: { transA: { int: transA }, transB: { int: transB }, alpha: { float: alpha }, beta: { float: 1 } },
        },
      ],
    }));
    const feeds: Record<string, import('onnxruntime-node').Tensor> = {
      A: this.tensor(a.data, a.rows, a.cols),
      B: this.tensor(b.data, b.rows, b.cols),
    };
    if (opts.c) feeds['C'] = this.tensor(opts.c.data, opts.c.rows, opts.c.cols);
    const result = await session.run(feeds);
    return this.output(result['Y'], a.data, m * n);
  }

  /**
   * B travels inside the model as an initializer rather than as an input: onnxruntime then packs it
   * into its GEMM layout once, at session creation, instead of on every call (measured 15-25% more
   * vectors per second for 3072 -> 2000).
   */
  async constantProduct(b: Mat<Float32Array>): Promise<ConstantProduct> {
    const session = await this.ort.InferenceSession.create(
      encodeModel({
        elemType: 'float32',
        inputs: [{ name: 'X', rank: 2 }],
        outputs: [{ name: 'Y', rank: 2 }],
        nodes: [{ op: 'Gemm', inputs: ['X', 'B'], outputs: ['Y'], attrs: { transB: { int: 1 } } }],
        initializers: [{ name: 'B', dims: [b.rows, b.cols], data: b.data }],
      }),
      this.sessionOptions(),
    );
    return {
      multiply: async (x) => {
        const result = await session.run({ X: this.tensor(x.data, x.rows, x.cols) });
        return this.output(result['Y'], x.data, x.rows * b.rows);
      },
      release: () => session.release(),
    };
  }

  private output<T extends FloatArray>(tensor: import('onnxruntime-node').Tensor | undefined, like: T, length: number): T {
    const data = tensor?.data;
    const ok = like instanceof Float64Array ? data instanceof Float64Array : data instanceof Float32Array;
    if (!ok || !(data instanceof Float64Array || data instanceof Float32Array) || data.length !== length) {
      throw new MigrateError('E_INTERNAL', `onnxruntime returned an unexpected tensor (${String(tensor?.type)}, ${String(tensor?.dims)})`);
    }
    return data as T;
  }

  async dispose(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of sessions) {
      try {
        await (await s).release();
      } catch {
        // A session that failed to build has nothing to release.
      }
    }
  }
}
