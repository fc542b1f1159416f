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
 *
 * The stages: implicitQl.ts solves the leaves, each merge deflates (below), solves the secular
 * equation and forms its vectors (secularEquation.ts), and multiplies them back into the halves'
 * bases (blockProduct.ts).
 */
import { blockProduct } from './blockProduct.js';
import { implicitQl, type Eig } from './implicitQl.js';
import type { LinAlg } from './linalg.js';
import { secularRoots, updateEigenvectors } from './secularEquation.js';

const EPS = Number.EPSILON;
/** Subproblems up to this size are solved directly (implicit QL); LAPACK's SMLSIZ is 25. */
const LEAF_SIZE = 32;

export interface TridiagonalEigen {
  /** The kept eigenvalues, descending. */
  values: Float64Array;
  /** n x k row-major: column j is the unit eigenvector of values[j]. */
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
