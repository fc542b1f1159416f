import { describe, it, expect } from 'vitest';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { PCA } from 'ml-pca';
import { fitPca } from '../src/transform/pca/index.js';
import { JsLinAlg, loadOnnxRuntime, OrtLinAlg, type LinAlg } from '../src/transform/pca/linalg.js';
import { tridiagonalize } from '../src/transform/pca/tridiagonal.js';
import { largestEigenpairs } from '../src/transform/pca/tridiagEigen.js';
import { seededRandom } from '../src/transform/random.js';

// The tridiagonal eigensolver against ml-matrix's EVD (ml-pca's own, tred2 + tql2) on spectra
// that stress it: clusters of nearly equal eigenvalues (a PCA noise floor), exactly repeated ones,
// and low rank plus noise. Sizes are above the solver's leaf size, so merges and deflation run.

function gaussian(seed: number): () => number {
  const next = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

/** Q diag(values) Q^T for a random orthogonal Q, row-major. */
function withSpectrum(values: readonly number[], seed: number): Float64Array {
  const n = values.length;
  const g = gaussian(seed);
  const q: Float64Array[] = [];
  while (q.length < n) {
    const v = Float64Array.from({ length: n }, () => g());
    for (let pass = 0; pass < 2; pass++) {
      for (const b of q) {
        let dot = 0;
        for (let t = 0; t < n; t++) dot += v[t]! * b[t]!;
        for (let t = 0; t < n; t++) v[t]! -= dot * b[t]!;
      }
    }
    const norm = Math.hypot(...v);
    q.push(v.map((x) => x / norm));
  }
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < n; c++) s += q[c]![i]! * values[c]! * q[c]![j]!;
      a[i * n + j] = s;
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[i * n + j] = a[j * n + i] = 0.5 * (a[i * n + j]! + a[j * n + i]!);
  return a;
}

async function tridiagonalOf(values: readonly number[], seed: number): Promise<{ diag: Float64Array; off: Float64Array }> {
  const n = values.length;
  const tri = await tridiagonalize(withSpectrum(values, seed), n, new JsLinAlg(), 8);
  return { diag: tri.diag, off: tri.off };
}

/** ml-matrix's eigenpairs of the dense tridiagonal matrix, descending. */
function reference(diag: Float64Array, off: Float64Array): { values: number[]; vectors: number[][] } {
  const n = diag.length;
  const t = Matrix.zeros(n, n);
  for (let i = 0; i < n; i++) {
    t.set(i, i, diag[i]!);
    if (i < n - 1) {
      t.set(i, i + 1, off[i]!);
      t.set(i + 1, i, off[i]!);
    }
  }
  const evd = new EigenvalueDecomposition(t, { assumeSymmetric: true });
  const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
  return {
    values: order.map(([v]) => v),
    vectors: order.map(([, i]) => evd.eigenvectorMatrix.getColumn(i)),
  };
}

const column = (vectors: Float64Array, n: number, k: number, j: number): number[] => Array.from({ length: n }, (_, i) => vectors[i * k + j]!);
const dot = (a: readonly number[], b: readonly number[]): number => a.reduce((s, x, i) => s + x * b[i]!, 0);

/**
 * Checks eigenvalues against the reference and the spectrum they were built from, orthonormality,
 * residuals, and vectors against the reference: up to sign where an eigenvalue stands apart, as a
 * subspace (our vector lies in the span of the reference's vectors of its group) where several are
 * (nearly) equal, since any orthonormal basis of that span is equally right.
 */
async function check(spectrum: readonly number[], seed: number, keep: number, la: LinAlg): Promise<void> {
  const n = spectrum.length;
  const { diag, off } = await tridiagonalOf(spectrum, seed);
  const ours = await largestEigenpairs(diag, off, keep, la);
  const ref = reference(diag, off);
  const exact = [...spectrum].sort((a, b) => b - a);
  const norm = Math.max(...exact.map(Math.abs));
  expect(ours.values.length).toBe(keep);
  expect(ours.vectors.length).toBe(n * keep);
  const cols = Array.from({ length: keep }, (_, j) => column(ours.vectors, n, keep, j));
  for (let j = 0; j < keep; j++) {
    if (j > 0) expect(ours.values[j]!).toBeLessThanOrEqual(ours.values[j - 1]!);
    expect(Math.abs(ours.values[j]! - ref.values[j]!)).toBeLessThan(1e-12 * norm);
    expect(Math.abs(ours.values[j]! - exact[j]!)).toBeLessThan(1e-11 * norm);
    const v = cols[j]!;
    let residual = 0;
    for (let i = 0; i < n; i++) {
      const tv = diag[i]! * v[i]! + (i > 0 ? off[i - 1]! * v[i - 1]! : 0) + (i < n - 1 ? off[i]! * v[i + 1]! : 0);
      residual = Math.max(residual, Math.abs(tv - ours.values[j]! * v[i]!));
    }
    expect(residual).toBeLessThan(1e-12 * norm);
  }
  let orth = 0;
  for (let a = 0; a < keep; a++) for (let b = 0; b <= a; b++) orth = Math.max(orth, Math.abs(dot(cols[a]!, cols[b]!) - (a === b ? 1 : 0)));
  expect(orth).toBeLessThan(1e-12);

  // Groups of eigenvalues closer than 1e-6 ||T||: only their span is determined to ~1e-10.
  const groupOf: number[] = [];
  let group = 0;
  for (let j = 0; j < n; j++) {
    if (j > 0 && ref.values[j - 1]! - ref.values[j]! > 1e-6 * norm) group++;
    groupOf.push(group);
  }
  for (let j = 0; j < keep; j++) {
    const members = ref.vectors.filter((_, r) => groupOf[r] === groupOf[j]);
    if (members.length === 1) {
      expect(Math.abs(Math.abs(dot(cols[j]!, members[0]!)) - 1)).toBeLessThan(1e-9);
    } else {
      const inSpan = members.reduce((s, m) => s + dot(cols[j]!, m) ** 2, 0);
      expect(1 - inSpan).toBeLessThan(1e-9);
    }
  }
}

function range(count: number, f: (i: number) => number): number[] {
  return Array.from({ length: count }, (_, i) => f(i));
}

describe('tridiagonal eigensolver (divide and conquer) against ml-matrix', () => {
  const js = new JsLinAlg();

  it('a cluster of nearly equal eigenvalues (a noise floor) below a few distinct ones', async () => {
    const spectrum = [10, 7, 3, ...range(130, (i) => 1e-3 * (1 + 1e-9 * i))];
    await check(spectrum, 1, spectrum.length, js);
    await check(spectrum, 2, 60, js);
  });

  it('exactly repeated eigenvalues', async () => {
    const spectrum = [...range(40, () => 5), ...range(50, () => 2), ...range(30, () => 1), 0.5, 0.25, ...range(20, () => 0)];
    await check(spectrum, 3, spectrum.length, js);
    await check(spectrum, 4, 45, js);
  });

  it('low rank plus noise, as real embeddings', async () => {
    const g = gaussian(5);
    const spectrum = [...range(20, (i) => (1 + i / 2) ** -1.5), ...range(180, () => 1e-6 * (1 + 0.3 * Math.abs(g())))];
    await check(spectrum, 6, spectrum.length, js);
    await check(spectrum, 7, 130, js);
  });

  it('a spread spectrum, and negative eigenvalues', async () => {
    const g = gaussian(8);
    await check(range(170, () => g()), 9, 170, js);
  });

  it('gives the same pairs with onnxruntime products', async () => {
    const ort = await loadOnnxRuntime();
    expect(ort).not.toBeNull();
    const la = new OrtLinAlg(ort!);
    try {
      const spectrum = [4, 3, ...range(100, (i) => 1e-2 * (1 + 1e-8 * i)), ...range(50, () => 1e-5)];
      await check(spectrum, 10, 120, la);
    } finally {
      await la.dispose();
    }
  });

  it('handles matrices no larger than one leaf, and 1 x 1', async () => {
    await check([3, 2, 2, 1, 0.5], 11, 3, js);
    const one = await largestEigenpairs(Float64Array.of(4), new Float64Array(0), 1, js);
    expect(Array.from(one.values)).toEqual([4]);
    expect(Array.from(one.vectors)).toEqual([1]);
  });
});

describe('fitPca on a low-rank-plus-noise sample agrees with ml-pca', () => {
  it('eigenvalues of every component, and the signal components up to sign', async () => {
    const n = 300;
    const d = 90;
    const g = gaussian(12);
    const basis = range(12, () => 0).map(() => Float64Array.from({ length: d }, () => g() / Math.sqrt(d)));
    const rows = range(n, () => 0).map(() => {
      const row = Float64Array.from({ length: d }, () => 1e-3 * g());
      basis.forEach((b, j) => {
        const c = (1 + j) ** -0.75 * g();
        for (let t = 0; t < d; t++) row[t]! += c * b[t]!;
      });
      return row;
    });
    const model = await fitPca(rows, 70, { engine: 'js', blockSize: 8 });
    const ref = new PCA(rows.map((r) => Array.from(r)));
    const values = ref.getEigenvalues();
    const vectors = ref.getEigenvectors();
    expect(model.targetDimensions).toBe(70);
    for (let j = 0; j < 70; j++) expect(Math.abs(model.explainedVariance[j]! - values[j]!)).toBeLessThan(1e-9 * values[0]!);
    for (let j = 0; j < 12; j++) {
      const ours = Array.from(model.components.subarray(j * d, (j + 1) * d));
      const theirs = vectors.getColumn(j);
      expect(Math.abs(Math.abs(dot(ours, theirs)) - 1)).toBeLessThan(1e-6);
    }
    for (let a = 0; a < 70; a++) {
      for (let b = 0; b <= a; b++) {
        const x = dot(Array.from(model.components.subarray(a * d, (a + 1) * d)), Array.from(model.components.subarray(b * d, (b + 1) * d)));
        expect(Math.abs(x - (a === b ? 1 : 0))).toBeLessThan(1e-5);
      }
    }
  });
});
