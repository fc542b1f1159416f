/**
 * The largest eigenpairs of a symmetric tridiagonal matrix by Cuppen's divide and conquer, as in
 * LAPACK's dstedc (dlaed0-dlaed4), with Gu and Eisenstat's recomputed update vector.
 *
 * Why not bisection plus inverse iteration (what this module did before): a PCA spectrum has a
 * noise floor of thousands of nearly equal eigenvalues, and inverse iteration must re-orthogonalize
 * every such cluster explicitly, O(n k^2) in JavaScript (measured 52-73 s of a 61-91 s fit on a
 * low-rank sample). Divide and conquer gets orthogonal vectors by construction, and clusters make
 * it faster, not slower: nearly equal eigenvalues deflate and skip the secular equation and the
 * products. Its cost is the merges' matrix products (onnxruntime via LinAlg) plus O(n^2) JavaScript
 * per merge level.
 */
import type { LinAlg } from './linalg.js';

const EPS = Number.EPSILON;
/** Subproblems up to this size are solved directly (implicit QL); LAPACK's SMLSIZ is 25. */
const LEAF_SIZE = 32;
/** Secular-equation iterations before giving up on the rational step (bisection always ends). */
const MAX_SECULAR_ITERATIONS = 200;

export interface TridiagonalEigen {
  /** The kept eigenvalues, descending. */
  values: Float64Array;
  /** n x k row-major: column j is the unit eigenvector of values[j]. */
  vectors: Float64Array;
}

/** Eigenpairs of one subproblem, ascending; vectors m x count row-major (columns are the vectors). */
interface Eig {
  values: Float64Array;
  vectors: Float64Array;
}

/**
 * The `keep` largest eigenvalues of the tridiagonal matrix (diag, off) and their eigenvectors.
 * Every level below the top needs all eigenpairs of its half; only the last merge is limited to
 * `keep`, which saves a third of its product for 2000 of 3072.
 */
export async function largestEigenpairs(diag: Float64Array, off: Float64Array, keep: number, la: LinAlg): Promise<TridiagonalEigen> {
  const n = diag.length;
  const d = Float64Array.from(diag); // the splits below modify diagonal entries
  const { values, vectors } = await solve(d, off, 0, n, la, Math.min(keep, n));
  const k = values.length;
  // Ascending -> descending: reverse the columns.
  const outValues = new Float64Array(k);
  const outVectors = new Float64Array(n * k);
  for (let j = 0; j < k; j++) outValues[j] = values[k - 1 - j]!;
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) outVectors[i * k + j] = vectors[i * k + (k - 1 - j)]!;
  return { values: outValues, vectors: outVectors };
}

async function solve(d: Float64Array, off: Float64Array, lo: number, m: number, la: LinAlg, keep: number): Promise<Eig> {
  if (m <= LEAF_SIZE) return keepLargest(implicitQl(d.subarray(lo, lo + m), off.subarray(lo, lo + m - 1)), m, keep);
  // T = diag(T1, T2) + |beta| u u^T with u = (e_last; sign(beta) e_first): subtracting |beta| from
  // the two diagonal entries at the cut makes the rank-one coefficient positive, as dlaed0 does.
  const n1 = m >> 1;
  const beta = off[lo + n1 - 1]!;
  d[lo + n1 - 1] = d[lo + n1 - 1]! - Math.abs(beta);
  d[lo + n1] = d[lo + n1]! - Math.abs(beta);
  const left = await solve(d, off, lo, n1, la, n1);
  const right = await solve(d, off, lo + n1, m - n1, la, m - n1);
  return merge(left, right, n1, m - n1, beta, la, keep);
}

function keepLargest(eig: Eig, m: number, keep: number): Eig {
  if (keep >= m) return eig;
  const values = eig.values.slice(m - keep);
  const vectors = new Float64Array(m * keep);
  for (let i = 0; i < m; i++) for (let j = 0; j < keep; j++) vectors[i * keep + j] = eig.vectors[i * m + m - keep + j]!;
  return { values, vectors };
}

/**
 * Eigenpairs of diag(Q1, Q2) (D + rho z z^T) diag(Q1, Q2)^T from those of the two halves.
 */
async function merge(left: Eig, right: Eig, n1: number, n2: number, beta: number, la: LinAlg, keep: number): Promise<Eig> {
  const m = n1 + n2;
  const rho = 2 * Math.abs(beta);
  // The block-diagonal Q, row-major so each half is copied in by rows.
  const q = new Float64Array(m * m);
  const dAll = new Float64Array(m);
  const z = new Float64Array(m);
  const hasTop = new Uint8Array(m);
  const sign = beta < 0 ? -1 : 1;
  for (let c = 0; c < n1; c++) {
    dAll[c] = left.values[c]!;
    z[c] = left.vectors[(n1 - 1) * n1 + c]! * Math.SQRT1_2;
    hasTop[c] = 1;
  }
  for (let r = 0; r < n1; r++) q.set(left.vectors.subarray(r * n1, (r + 1) * n1), r * m);
  const hasBottom = new Uint8Array(m);
  for (let c = 0; c < n2; c++) {
    dAll[n1 + c] = right.values[c]!;
    z[n1 + c] = sign * right.vectors[c]! * Math.SQRT1_2;
    hasBottom[n1 + c] = 1;
  }
  for (let r = 0; r < n2; r++) q.set(right.vectors.subarray(r * n2, (r + 1) * n2), (n1 + r) * m + n1);

  // Deflation (dlaed2): a negligible z entry leaves its (value, column) an eigenpair as it is; two
  // values closer than the tolerance are rotated so one of their z entries vanishes. This is what
  // makes a clustered noise floor cheap.
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => dAll[a]! - dAll[b]!);
  let dMax = 0;
  let zMax = 0;
  for (let i = 0; i < m; i++) {
    dMax = Math.max(dMax, Math.abs(dAll[i]!));
    zMax = Math.max(zMax, Math.abs(z[i]!));
  }
  const tol = 8 * EPS * Math.max(dMax, rho * zMax);
  const kept: number[] = []; // columns going into the secular equation, ascending value
  const deflated: number[] = [];
  let prev = -1;
  for (const j of order) {
    if (rho * Math.abs(z[j]!) <= tol) {
      deflated.push(j);
      continue;
    }
    if (prev < 0) {
      prev = j;
      continue;
    }
    const tau = Math.hypot(z[j]!, z[prev]!);
    const c = z[j]! / tau;
    const s = -z[prev]! / tau;
    if (Math.abs((dAll[j]! - dAll[prev]!) * c * s) <= tol) {
      z[j] = tau;
      z[prev] = 0;
      // Only the halves where either column is non-zero.
      const from = hasTop[j] || hasTop[prev] ? 0 : n1;
      const to = hasBottom[j] || hasBottom[prev] ? m : n1;
      for (let r = from; r < to; r++) {
        const x = q[r * m + prev]!;
        const y = q[r * m + j]!;
        q[r * m + prev] = c * x + s * y;
        q[r * m + j] = c * y - s * x;
      }
      const t = dAll[prev]! * c * c + dAll[j]! * s * s;
      dAll[j] = dAll[prev]! * s * s + dAll[j]! * c * c;
      dAll[prev] = t;
      hasTop[j] = hasTop[prev] = hasTop[j]! | hasTop[prev]!;
      hasBottom[j] = hasBottom[prev] = hasBottom[j]! | hasBottom[prev]!;
      deflated.push(prev);
    } else {
      kept.push(prev);
    }
    prev = j;
  }
  if (prev >= 0) kept.push(prev);

  const K = kept.length;
  const dk = Float64Array.from(kept, (c) => dAll[c]!);
  const zk = Float64Array.from(kept, (c) => z[c]!);
  const roots = secularRoots(dk, zk, rho);

  // All m eigenvalues, ascending; the top `keep` are returned. Entry >= 0: a secular root's index,
  // < 0: a deflated column (~index).
  const all: { value: number; source: number }[] = [];
  for (let j = 0; j < K; j++) all.push({ value: dk[roots.origin[j]!]! + roots.tau[j]!, source: j });
  for (const c of deflated) all.push({ value: dAll[c]!, source: ~c });
  all.sort((a, b) => a.value - b.value);
  const chosen = all.slice(m - keep);
  const rootCols = chosen.filter((e) => e.source >= 0).map((e) => e.source);

  const values = Float64Array.from(chosen, (e) => e.value);
  const pc = rootCols.length;
  const product = pc > 0 ? await blockProduct(q, m, n1, kept, hasTop, hasBottom, updateEigenvectors(dk, zk, rho, roots, rootCols), pc, la) : null;
  // Output column -> its column in the product (>= 0) or, deflated, ~its column of Q.
  const sourceCol = new Int32Array(keep);
  let p = 0;
  chosen.forEach((e, col) => {
    sourceCol[col] = e.source >= 0 ? p++ : e.source;
  });
  const vectors = new Float64Array(m * keep);
  for (let r = 0; r < m; r++) {
    for (let col = 0; col < keep; col++) {
      const sc = sourceCol[col]!;
      vectors[r * keep + col] = sc >= 0 ? product![r * pc + sc]! : q[r * m + ~sc]!;
    }
  }
  return { values, vectors };
}

/**
 * Q_kept U, where Q_kept's columns are mostly zero in one half (columns of Q1 or Q2 not mixed by a
 * deflating rotation): each half of the rows is multiplied only by the columns non-zero there,
 * about half the multiply-adds of the dense product.
 */
async function blockProduct(
  q: Float64Array,
  m: number,
  n1: number,
  kept: readonly number[],
  hasTop: Uint8Array,
  hasBottom: Uint8Array,
  u: Float64Array,
  cols: number,
  la: LinAlg,
): Promise<Float64Array> {
  const out = new Float64Array(m * cols);
  for (const [from, to, flags] of [
    [0, n1, hasTop],
    [n1, m, hasBottom],
  ] as const) {
    const rows = to - from;
    const idx: number[] = [];
    kept.forEach((c, i) => {
      if (flags[c]) idx.push(i);
    });
    if (idx.length === 0 || rows === 0) continue;
    const a = new Float64Array(rows * idx.length);
    const b = new Float64Array(idx.length * cols);
    const qCols = idx.map((i) => kept[i]!);
    for (let r = 0; r < rows; r++) {
      const qOff = (from + r) * m;
      for (let t = 0; t < qCols.length; t++) a[r * qCols.length + t] = q[qOff + qCols[t]!]!;
    }
    idx.forEach((i, t) => b.set(u.subarray(i * cols, (i + 1) * cols), t * cols));
    const part = await la.gemm({ data: a, rows, cols: idx.length }, { data: b, rows: idx.length, cols });
    out.set(part, from * cols);
  }
  return out;
}

interface SecularRoots {
  /** Root j is dk[origin[j]] + tau[j]: stored relative to its nearer pole, so d_i - lambda_j keeps full relative accuracy. */
  origin: Int32Array;
  tau: Float64Array;
}

/**
 * Roots of 1 + rho sum_i z_i^2 / (d_i - lambda) = 0 for strictly increasing d (dlaed4's job):
 * root j lies in (d_j, d_j+1), the last in (d_K, d_K + rho |z|^2). Each is found by a rational
 * step that models the poles left and right of the interval by one pole each (exact for K = 2),
 * safeguarded by bisection of a bracket that every evaluation narrows.
 */
function secularRoots(d: Float64Array, z: Float64Array, rho: number): SecularRoots {
  const K = d.length;
  const origin = new Int32Array(K);
  const tau = new Float64Array(K);
  const z2 = Float64Array.from(z, (x) => x * x);
  let zNorm2 = 0;
  for (let i = 0; i < K; i++) zNorm2 += z2[i]!;
  const rhoInv = 1 / rho;
  const base = new Float64Array(K);
  /** w(t) = 1/rho + psi + phi at lambda = d_o + t, with psi over poles <= j and phi over the rest. */
  const evaluate = (j: number, t: number) => {
    let psi = 0;
    let dpsi = 0;
    let phi = 0;
    let dphi = 0;
    let err = 0;
    for (let i = 0; i <= j; i++) {
      const inv = 1 / (base[i]! - t);
      const term = z2[i]! * inv;
      psi += term;
      dpsi += term * inv;
      err -= psi; // psi's partial sums are all negative
    }
    for (let i = K - 1; i > j; i--) {
      const inv = 1 / (base[i]! - t);
      const term = z2[i]! * inv;
      phi += term;
      dphi += term * inv;
      err += phi;
    }
    const w = rhoInv + psi + phi;
    // Rounding error bound of w, as dlaed4's erretm.
    const bound = EPS * (8 * (phi - psi) + err + rhoInv + Math.abs(t) * (dpsi + dphi));
    return { w, psi, dpsi, phi, dphi, bound };
  };
  for (let j = 0; j < K; j++) {
    const last = j === K - 1;
    let o = j;
    let lo = 0;
    let hi: number;
    if (last) {
      hi = rho * zNorm2;
      for (let i = 0; i < K; i++) base[i] = d[i]! - d[j]!;
    } else {
      const gap = d[j + 1]! - d[j]!;
      for (let i = 0; i < K; i++) base[i] = d[i]! - d[j]!;
      if (evaluate(j, gap / 2).w >= 0) {
        hi = gap / 2;
      } else {
        o = j + 1;
        for (let i = 0; i < K; i++) base[i] = d[i]! - d[o]!;
        lo = -(gap - gap / 2);
        hi = 0;
      }
    }
    let t = 0.5 * (lo + hi);
    for (let it = 0; it < MAX_SECULAR_ITERATIONS; it++) {
      const { w, psi, dpsi, phi, dphi, bound } = evaluate(j, t);
      if (Math.abs(w) <= bound) break;
      if (w < 0) lo = t;
      else hi = t;
      // Model psi ~ a + b/(delta_j - x) and phi ~ c + e/(delta_j+1 - x), matching values and slopes at t.
      const d1 = base[j]! - t;
      let eta: number;
      if (last) {
        const A = rhoInv + psi - dpsi * d1;
        eta = A > 0 ? d1 + (dpsi * d1 * d1) / A : NaN;
      } else {
        const d2 = base[j + 1]! - t;
        const A = rhoInv + (psi - dpsi * d1) + (phi - dphi * d2);
        const B = A * (d1 + d2) + dpsi * d1 * d1 + dphi * d2 * d2;
        const C = d1 * d2 * w;
        // A eta^2 - B eta + C = 0; the small root is the correction.
        const sq = Math.sqrt(Math.abs(B * B - 4 * A * C));
        const big = B + (B >= 0 ? sq : -sq);
        eta = big !== 0 ? (2 * C) / big : NaN;
      }
      let next = t + eta;
      if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
      if (next === t || !(hi - lo > EPS * Math.max(Math.abs(lo), Math.abs(hi)))) {
        t = next;
        break;
      }
      t = next;
    }
    origin[j] = o;
    tau[j] = t;
  }
  return { origin, tau };
}

/**
 * Columns `cols` of the eigenvector matrix of D + rho z z^T. Gu and Eisenstat: z is recomputed from
 * the computed roots, so they are the exact eigenvalues of a nearby problem and the vectors
 * z_i / (d_i - lambda_j) are orthogonal to working precision however close the roots lie.
 */
function updateEigenvectors(d: Float64Array, z: Float64Array, rho: number, roots: SecularRoots, cols: readonly number[]): Float64Array {
  const K = d.length;
  const diff = (i: number, j: number): number => d[i]! - d[roots.origin[j]!]! - roots.tau[j]!; // d_i - lambda_j
  const zHat = new Float64Array(K);
  for (let i = 0; i < K; i++) {
    // Interleaved so the product neither overflows nor underflows.
    let prod = diff(i, i);
    for (let j = 0; j < K; j++) if (j !== i) prod *= diff(i, j) / (d[i]! - d[j]!);
    const mag = Math.sqrt(Math.max(0, -prod / rho));
    zHat[i] = z[i]! < 0 ? -mag : mag;
  }
  const c = cols.length;
  const u = new Float64Array(K * c);
  cols.forEach((j, t) => {
    let sq = 0;
    for (let i = 0; i < K; i++) {
      const x = zHat[i]! / diff(i, j);
      u[i * c + t] = x;
      sq += x * x;
    }
    const inv = 1 / Math.sqrt(sq);
    for (let i = 0; i < K; i++) u[i * c + t] = u[i * c + t]! * inv;
  });
  return u;
}

/**
 * All eigenpairs of a small tridiagonal matrix by implicit QL with accumulated rotations (EISPACK
 * tql2, as in JAMA and ml-matrix). O(m^3), which at the leaf size is negligible.
 */
function implicitQl(diag: Float64Array, off: Float64Array): Eig {
  const n = diag.length;
  const d = Float64Array.from(diag);
  const e = new Float64Array(n);
  e.set(off);
  const v = new Float64Array(n * n); // row-major, column j = eigenvector j
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let f = 0;
  let tst1 = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]!) > EPS * tst1) m++;
    if (m > l) {
      do {
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          for (let k = 0; k < n; k++) {
            const vk = k * n;
            h = v[vk + i + 1]!;
            v[vk + i + 1] = s * v[vk + i]! + c * h;
            v[vk + i] = c * v[vk + i]! - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > EPS * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
  // Ascending order, as the merges expect.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => d[a]! - d[b]!);
  const values = Float64Array.from(order, (i) => d[i]!);
  const vectors = new Float64Array(n * n);
  for (let r = 0; r < n; r++) for (let j = 0; j < n; j++) vectors[r * n + j] = v[r * n + order[j]!]!;
  return { values, vectors };
}
