import { describe, it, expect } from 'vitest';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { JsLinAlg } from '../src/transform/pca/linalg.js';
import { SimdKernels } from '../src/transform/pca/simdKernels.js';
import { tridiagonalize } from '../src/transform/pca/tridiagonal.js';
import { seededRandom } from '../src/transform/random.js';

// The hand-assembled WebAssembly kernels against plain loops, on the lengths where a two-lane
// (and, for dot, four-element) main loop leaves tails of every size, and on rows with a stride.

const LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 31, 64, 65, 127];

function filled(k: SimdKernels, seed: number): void {
  const next = seededRandom(seed);
  for (let i = 0; i < k.f64.length; i++) k.f64[i] = next() - 0.5;
}

function close(actual: number, expected: number, scale: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-14 * Math.max(1, scale));
}

describe('WebAssembly SIMD kernels', () => {
  it('dot and axpy equal plain loops and leave the memory past the length alone', () => {
    const k = new SimdKernels(4096);
    const f = k.f64;
    for (const len of LENGTHS) {
      filled(k, 1 + len);
      const a = 8;
      const b = 1000;
      const y = 2001; // odd element offsets: the kernels must not assume 16-byte alignment
      let s = 0;
      for (let i = 0; i < len; i++) s += f[a + i]! * f[b + i]!;
      close(k.dot(8 * a, 8 * b, len), s, len);
      const before = f.slice(y, y + len + 1);
      k.axpy(-0.75, 8 * a, 8 * y, len);
      for (let i = 0; i < len; i++) close(f[y + i]!, before[i]! - 0.75 * f[a + i]!, 1);
      expect(f[y + len]).toBe(before[len]);
    }
  });

  it('symv reads only the lower triangle and diagonal of a strided matrix', () => {
    for (const n of LENGTHS) {
      const stride = n + 3;
      const k = new SimdKernels(stride * n + 2 * n + 8);
      filled(k, 100 + n);
      const f = k.f64;
      const u = stride * n;
      const y = u + n + 1;
      const lower = (i: number, j: number): number => (j <= i ? f[i * stride + j]! : f[j * stride + i]!);
      const expected = Array.from({ length: n }, (_, i) => {
        let s = 0;
        for (let j = 0; j < n; j++) s += lower(i, j) * f[u + j]!;
        return s;
      });
      // Garbage above the diagonal must not matter.
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) f[i * stride + j] = 1e6;
      k.symv(0, 8 * stride, n, 8 * u, 8 * y);
      for (let i = 0; i < n; i++) close(f[y + i]!, expected[i]!, n);
    }
  });

  it('gemv and gemvT equal plain loops over strided rows', () => {
    const k = new SimdKernels(1 << 14);
    const f = k.f64;
    const cols = 5;
    const stride = 9;
    for (const rows of LENGTHS) {
      filled(k, 200 + rows);
      const a = 16;
      const x = 8000;
      const y = 9001;
      const before = f.slice(y, y + rows);
      k.gemv(8 * a, 8 * stride, rows, cols, 8 * x, 8 * y, -1);
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += f[a + r * stride + c]! * f[x + c]!;
        close(f[y + r]!, before[r]! - s, cols);
      }
      const out = 10001;
      const outBefore = f.slice(out, out + cols + 1);
      k.gemvT(8 * a, 8 * stride, rows, cols, 8 * x, 8 * out);
      for (let c = 0; c < cols; c++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += f[a + r * stride + c]! * f[x + r]!;
        close(f[out + c]!, outBefore[c]! + s, rows);
      }
      expect(f[out + cols]).toBe(outBefore[cols]);
    }
  });
});

describe('tridiagonalize', () => {
  it('leaves its input as it was (it works on a copy in the kernels memory)', async () => {
    const n = 37;
    const next = seededRandom(5);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = next() - 0.5;
    const copy = a.slice();
    const tri = await tridiagonalize(a, n, new JsLinAlg(), 8);
    expect(a).toEqual(copy);
    // Orthogonal similarity keeps the trace and the Frobenius norm.
    let trace = 0;
    let frob = 0;
    for (let i = 0; i < n; i++) {
      trace += a[i * n + i]!;
      for (let j = 0; j < n; j++) frob += a[i * n + j]! ** 2;
    }
    let triFrob = 0;
    for (let i = 0; i < n; i++) triFrob += tri.diag[i]! ** 2 + (i < n - 1 ? 2 * tri.off[i]! ** 2 : 0);
    close(tri.diag.reduce((s, x) => s + x, 0), trace, n);
    close(triFrob, frob, n * n);
  });

  it('has the input matrix eigenvalues when the trailing update spans several blocks of rows', async () => {
    const n = 61;
    const next = seededRandom(9);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = next() - 0.5 + (i === j ? i / 10 : 0);
    const sorted = (m: Matrix): number[] => [...new EigenvalueDecomposition(m, { assumeSymmetric: true }).realEigenvalues].sort((p, q) => p - q);
    const expected = sorted(new Matrix(Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, (i + 1) * n)))));
    // Panels of 4 and update blocks of 5 rows: the blocks above the diagonal are never formed.
    const tri = await tridiagonalize(a, n, new JsLinAlg(), 4, 5);
    const t = Matrix.zeros(n, n);
    for (let i = 0; i < n; i++) {
      t.set(i, i, tri.diag[i]!);
      if (i < n - 1) {
        t.set(i, i + 1, tri.off[i]!);
        t.set(i + 1, i, tri.off[i]!);
      }
    }
    const actual = sorted(t);
    for (let i = 0; i < n; i++) close(actual[i]!, expected[i]!, 10);
  });
});
