/**
 * Selected eigenpairs of a symmetric tridiagonal matrix: eigenvalues by Sturm-sequence bisection,
 * eigenvectors by inverse iteration (the LAPACK dstebz + dstein pair that dsyevx uses for "some of
 * the eigenpairs"). PCA wants the top k of n, often k close to n, and both steps cost O(n) per
 * eigenpair per iteration, so the whole step is a small fraction of the fit.
 */

const EPS = 2 ** -52;
const SAFE_MIN = 2 ** -1021;

/** max_i |d_i| + |e_{i-1}| + |e_i|: the 1-norm of T, the scale for every tolerance below. */
export function tridiagonalNorm(diag: Float64Array, off: Float64Array): number {
  const n = diag.length;
  let norm = 0;
  for (let i = 0; i < n; i++) {
    const s = Math.abs(diag[i]!) + (i > 0 ? Math.abs(off[i - 1]!) : 0) + (i < n - 1 ? Math.abs(off[i]!) : 0);
    norm = Math.max(norm, s);
  }
  return norm;
}

/** The k largest eigenvalues, in descending order. */
export function largestEigenvalues(diag: Float64Array, off: Float64Array, k: number): Float64Array {
  const n = diag.length;
  const off2 = new Float64Array(Math.max(0, n - 1));
  let maxOff2 = 0;
  for (let i = 0; i < n - 1; i++) {
    off2[i] = off[i]! * off[i]!;
    maxOff2 = Math.max(maxOff2, off2[i]!);
  }
  const pivmin = SAFE_MIN * Math.max(1, maxOff2);
  // Gershgorin interval, widened so the end points are strictly outside the spectrum.
  let lower = Infinity;
  let upper = -Infinity;
  for (let i = 0; i < n; i++) {
    const r = (i > 0 ? Math.abs(off[i - 1]!) : 0) + (i < n - 1 ? Math.abs(off[i]!) : 0);
    lower = Math.min(lower, diag[i]! - r);
    upper = Math.max(upper, diag[i]! + r);
  }
  const norm = Math.max(Math.abs(lower), Math.abs(upper));
  const widen = 2.1 * EPS * norm * n + 2.1 * pivmin;
  lower -= widen;
  upper += widen;
  const absTol = EPS * norm;

  /** Number of eigenvalues strictly below x (the negative pivots of T - xI). */
  const countBelow = (x: number): number => {
    let count = 0;
    let q = diag[0]! - x;
    if (Math.abs(q) <= pivmin) q = -pivmin;
    if (q < 0) count++;
    for (let i = 1; i < n; i++) {
      q = diag[i]! - x - off2[i - 1]! / q;
      if (Math.abs(q) <= pivmin) q = -pivmin;
      if (q < 0) count++;
    }
    return count;
  };

  // Bounds for ascending indices first..n-1. Every count narrows the bounds of all of them, which
  // keeps the bounds monotone in the index, so each update touches only the indices that change.
  const first = n - k;
  const lo = new Float64Array(k).fill(lower);
  const hi = new Float64Array(k).fill(upper);
  for (let j = k - 1; j >= 0; j--) {
    while (hi[j]! - lo[j]! > Math.max(absTol, 2 * EPS * Math.max(Math.abs(lo[j]!), Math.abs(hi[j]!)))) {
      const mid = 0.5 * (lo[j]! + hi[j]!);
      if (mid <= lo[j]! || mid >= hi[j]!) break; // interval at the resolution of doubles
      const c = countBelow(mid) - first; // eigenvalue indices (relative) below c are < mid
      for (let t = Math.min(c, k) - 1; t >= 0 && hi[t]! > mid; t--) hi[t] = mid;
      for (let t = Math.max(c, 0); t < k && lo[t]! < mid; t++) lo[t] = mid;
    }
  }
  const out = new Float64Array(k);
  for (let j = 0; j < k; j++) out[j] = 0.5 * (lo[k - 1 - j]! + hi[k - 1 - j]!);
  return out;
}

/** Deterministic uniform(-1, 1) start vectors: a re-fit must reproduce the same model bit for bit. */
function startVector(x: Float64Array, seed: number): void {
  let s = (seed * 2654435761 + 0x9e3779b9) >>> 0;
  for (let i = 0; i < x.length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    x[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
}

/** LU factorization with partial pivoting of T - shift*I (LAPACK dgttrf layout). */
class ShiftedLu {
  readonly dl: Float64Array;
  readonly d: Float64Array;
  readonly du: Float64Array;
  readonly du2: Float64Array;
  readonly swapped: Uint8Array;

  constructor(diag: Float64Array, off: Float64Array, shift: number) {
    const n = diag.length;
    this.dl = Float64Array.from(off);
    this.d = new Float64Array(n);
    for (let i = 0; i < n; i++) this.d[i] = diag[i]! - shift;
    this.du = Float64Array.from(off);
    this.du2 = new Float64Array(Math.max(0, n - 2));
    this.swapped = new Uint8Array(Math.max(0, n - 1));
    const { dl, d, du, du2, swapped } = this;
    for (let i = 0; i < n - 1; i++) {
      if (Math.abs(d[i]!) >= Math.abs(dl[i]!)) {
        if (d[i] !== 0) {
          const fact = dl[i]! / d[i]!;
          dl[i] = fact;
          d[i + 1] = d[i + 1]! - fact * du[i]!;
        }
      } else {
        const fact = d[i]! / dl[i]!;
        d[i] = dl[i]!;
        dl[i] = fact;
        const temp = du[i]!;
        du[i] = d[i + 1]!;
        d[i + 1] = temp - fact * d[i + 1]!;
        if (i < n - 2) {
          du2[i] = du[i + 1]!;
          du[i + 1] = -fact * du[i + 1]!;
        }
        swapped[i] = 1;
      }
    }
  }

  /** Solves in place; pivots smaller than `pert` are replaced by +-pert (dlagts with perturbation). */
  solve(b: Float64Array, pert: number): void {
    const { dl, d, du, du2, swapped } = this;
    const n = d.length;
    for (let i = 0; i < n - 1; i++) {
      if (swapped[i]) {
        const temp = b[i]!;
        b[i] = b[i + 1]!;
        b[i + 1] = temp - dl[i]! * b[i]!;
      } else {
        b[i + 1] = b[i + 1]! - dl[i]! * b[i]!;
      }
    }
    const pivot = (i: number): number => {
      const p = d[i]!;
      return Math.abs(p) >= pert ? p : p < 0 ? -pert : pert;
    };
    b[n - 1] = b[n - 1]! / pivot(n - 1);
    if (n > 1) b[n - 2] = (b[n - 2]! - du[n - 2]! * b[n - 1]!) / pivot(n - 2);
    for (let i = n - 3; i >= 0; i--) b[i] = (b[i]! - du[i]! * b[i + 1]! - du2[i]! * b[i + 2]!) / pivot(i);
  }
}

export interface InverseIterationResult {
  /** n x k row-major: column j is the unit eigenvector of values[j]. */
  vectors: Float64Array;
  /** Eigenpairs that missed the convergence test within the iteration limit (kept as computed). */
  unconverged: number;
}

const MAX_ITERATIONS = 5;
const EXTRA_ITERATIONS = 2;

/**
 * Eigenvectors for `values` (descending, as from largestEigenvalues) by inverse iteration.
 *
 * Vectors of eigenvalues closer than `clusterTol * ||T||` are re-orthogonalized against each
 * other (modified Gram-Schmidt inside the iteration). LAPACK's dstein uses 1e-3, which on a PCA
 * spectrum (a long, slowly decaying tail) makes one cluster of nearly every eigenvalue and costs
 * O(n k^2). Inverse iteration's error against another eigenvector is about eps ||T|| / gap, so
 * pairs further apart than 1e-7 ||T|| are already orthogonal to ~1e-9 — far below the float32 the
 * model stores — and only genuinely (near-)degenerate eigenvalues need the explicit work.
 */
export function eigenvectorsByInverseIteration(
  diag: Float64Array,
  off: Float64Array,
  values: Float64Array,
  clusterTol = 1e-7,
): InverseIterationResult {
  const n = diag.length;
  const k = values.length;
  const norm = Math.max(tridiagonalNorm(diag, off), SAFE_MIN);
  const clusterGap = clusterTol * norm;
  const pert = EPS * norm;
  const growthTarget = Math.sqrt(0.1 / n);
  const columns: Float64Array[] = [];
  let clusterStart = 0;
  let unconverged = 0;
  let previousShift = Infinity;
  const x = new Float64Array(n);
  for (let j = 0; j < k; j++) {
    let shift = values[j]!;
    if (j > 0 && values[j - 1]! - values[j]! > clusterGap) clusterStart = j;
    // Equal shifts would give equal factorizations; separate them by a few ulps (as dstein does).
    const minSep = 10 * EPS * Math.abs(shift);
    if (previousShift - shift < minSep) shift = previousShift - minSep;
    previousShift = shift;
    const lu = new ShiftedLu(diag, off, shift);
    const lastPivot = Math.abs(lu.d[n - 1]!);
    startVector(x, j);
    let checks = 0;
    let converged = false;
    for (let it = 0; it < MAX_ITERATIONS; it++) {
      // Scale so the solve's growth is measured against ||T||: a large result means convergence.
      let l1 = 0;
      for (let i = 0; i < n; i++) l1 += Math.abs(x[i]!);
      const scale = (n * norm * Math.max(EPS, lastPivot)) / l1;
      for (let i = 0; i < n; i++) x[i] = x[i]! * scale;
      lu.solve(x, pert);
      for (let c = clusterStart; c < j; c++) {
        const z = columns[c]!;
        let dot = 0;
        for (let i = 0; i < n; i++) dot += x[i]! * z[i]!;
        for (let i = 0; i < n; i++) x[i] = x[i]! - dot * z[i]!;
      }
      let maxAbs = 0;
      for (let i = 0; i < n; i++) maxAbs = Math.max(maxAbs, Math.abs(x[i]!));
      if (maxAbs === 0 || !Number.isFinite(maxAbs)) {
        startVector(x, j + 7919 * (it + 1)); // degenerate draw: restart elsewhere
        continue;
      }
      if (maxAbs < growthTarget) continue;
      checks++;
      if (checks > EXTRA_ITERATIONS) {
        converged = true;
        break;
      }
    }
    if (!converged) unconverged++;
    let sq = 0;
    for (let i = 0; i < n; i++) sq += x[i]! * x[i]!;
    const inv = 1 / Math.sqrt(sq);
    columns.push(Float64Array.from(x, (val) => val * inv));
  }
  const vectors = new Float64Array(n * k);
  for (let j = 0; j < k; j++) {
    const col = columns[j]!;
    for (let i = 0; i < n; i++) vectors[i * k + j] = col[i]!;
  }
  return { vectors, unconverged };
}
