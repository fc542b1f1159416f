/**
 * Householder reduction of a symmetric matrix to tridiagonal form, blocked as in LAPACK's
 * dsytrd/dlatrd (lower variant), and the matching back-transformation of eigenvectors.
 *
 * Why blocked: the unblocked reduction is a matrix-vector product plus a rank-2 update per column,
 * both memory-bound; in JavaScript that is minutes for n = 3072. The blocked form defers the rank-2
 * updates of `nb` columns into one rank-2nb matrix product (onnxruntime), leaving one symmetric
 * matrix-vector product per column (WebAssembly SIMD kernels, simdKernels.ts). The back-transformation
 * applies each panel's reflectors as one compact-WY block, which is again matrix products.
 */
import type { LinAlg } from './linalg.js';
import { SimdKernels } from './simdKernels.js';

/** The reflectors of one panel: H(start) ... H(start+nb-1), each I - tau v v^T. */
interface Panel {
  /** Global index of the panel's first row and column. */
  start: number;
  /** Rows the reflectors act on: global rows start .. start+size-1. */
  size: number;
  nb: number;
  /** size x nb, row-major; column c is the vector of reflector start+c (zero above row c+1, one at row c+1). */
  v: Float64Array;
  tau: Float64Array;
}

export interface Tridiagonal {
  n: number;
  /** Diagonal, length n. */
  diag: Float64Array;
  /** Sub-diagonal, length n-1. */
  off: Float64Array;
  panels: Panel[];
}

/** Rows per block of the trailing update (a parameter for tests): big enough for efficient products, small enough to skip most of the upper triangle. */
const UPDATE_BLOCK = 512;

/** Reduces the symmetric n x n row-major matrix `a` (not modified; it is copied into the kernels' memory). */
export async function tridiagonalize(a: Float64Array, n: number, la: LinAlg, blockSize: number, updateBlock = UPDATE_BLOCK): Promise<Tridiagonal> {
  const diag = new Float64Array(n);
  const off = new Float64Array(Math.max(0, n - 1));
  const panels: Panel[] = [];
  if (n === 1) diag[0] = a[0]!;
  if (n <= 1) return { n, diag, off, panels };
  const maxNb = Math.max(1, Math.min(blockSize, n - 1));
  // Everything the column loop touches lives in one kernel memory (offsets in float64 elements):
  // the trailing matrix (size x size, contiguous, shrinking in place), the panel's V and W
  // (size x nb) and the vectors.
  const M = 0;
  const V = n * n;
  const W = V + n * maxNb;
  const U = W + n * maxNb;
  const Y = U + n;
  const X = Y + n;
  const P = X + n;
  const Q = P + maxNb;
  const k = new SimdKernels(Q + maxNb);
  const f = k.f64;
  f.set(a.subarray(0, n * n), M);
  const x = f.subarray(X, X + n);
  const u = f.subarray(U, U + n);
  const y = f.subarray(Y, Y + n);
  let size = n;
  let start = 0;
  while (size > 1) {
    const nb = Math.min(blockSize, size - 1);
    const v = f.subarray(V, V + size * nb);
    const w = f.subarray(W, W + size * nb);
    v.fill(0);
    w.fill(0);
    const vAt = (row: number): number => 8 * (V + row * nb);
    const wAt = (row: number): number => 8 * (W + row * nb);
    const tau = new Float64Array(nb);
    for (let i = 0; i < nb; i++) {
      // Column i with the panel's earlier reflectors applied (rows i..size-1), from the lower
      // triangle: the trailing update below forms only that.
      for (let r = i; r < size; r++) x[r] = f[M + r * size + i]!;
      if (i > 0) {
        k.gemv(vAt(i), 8 * nb, size - i, i, wAt(i), 8 * (X + i), -1);
        k.gemv(wAt(i), 8 * nb, size - i, i, vAt(i), 8 * (X + i), -1);
      }
      diag[start + i] = x[i]!;
      const { beta, tau: t } = householder(x, i + 1, size);
      off[start + i] = beta;
      tau[i] = t;
      u.fill(0, 0, size);
      u[i + 1] = 1;
      v[(i + 1) * nb + i] = 1;
      for (let r = i + 2; r < size; r++) {
        u[r] = x[r]!;
        v[r * nb + i] = x[r]!;
      }
      if (t === 0) continue; // H = I: its w column stays zero
      // y = (A - V W^T - W V^T) u on rows and columns lo.. (u is zero above lo; rows above are not
      // needed), with A read from its lower triangle as LAPACK's dsymv does: half the memory traffic
      // of a full product, and the trailing matrix's triangle fits the L3 cache sooner.
      // Then w = tau y - (tau/2)(tau y.u) u, so the two-sided update is A - u w^T - w u^T.
      const lo = i + 1;
      const len = size - lo;
      k.symv(8 * (M + lo * size + lo), 8 * size, len, 8 * (U + lo), 8 * (Y + lo));
      if (i > 0) {
        f.fill(0, P, Q + maxNb);
        k.gemvT(wAt(lo), 8 * nb, len, i, 8 * (U + lo), 8 * P); // p = W^T u
        k.gemvT(vAt(lo), 8 * nb, len, i, 8 * (U + lo), 8 * Q); // q = V^T u
        k.gemv(vAt(lo), 8 * nb, len, i, 8 * P, 8 * (Y + lo), -1);
        k.gemv(wAt(lo), 8 * nb, len, i, 8 * Q, 8 * (Y + lo), -1);
      }
      const dot = k.dot(8 * (Y + lo), 8 * (U + lo), len);
      const alpha = -0.5 * t * t * dot;
      for (let r = lo; r < size; r++) w[r * nb + i] = t * y[r]! + alpha * u[r]!;
    }
    panels.push({ start, size, nb, v: v.slice(), tau });
    if (nb === size - 1) {
      // Final panel: the last diagonal entry only needs the pending updates.
      const r = size - 1;
      let s = f[M + r * size + r]!;
      for (let c = 0; c < nb; c++) s -= 2 * v[r * nb + c]! * w[r * nb + c]!;
      diag[start + r] = s;
      break;
    }
    // Trailing update: A22 - V2 W2^T - W2 V2^T as products [V2 W2] [W2 V2]^T with inner size 2nb,
    // on the blocks on or below the diagonal only (the column reads above and symv use no other):
    // with blocks of UPDATE_BLOCK rows that is about 40% fewer multiply-adds than the full square.
    // A22 is first moved to the front of the matrix's space (rows only move down in memory, so
    // in place is safe).
    const rest = size - nb;
    for (let r = 0; r < rest; r++) f.copyWithin(M + r * rest, M + (r + nb) * size + nb, M + (r + nb + 1) * size);
    const left = new Float64Array(rest * 2 * nb);
    const right = new Float64Array(rest * 2 * nb);
    for (let r = 0; r < rest; r++) {
      for (let c = 0; c < nb; c++) {
        const vv = v[(r + nb) * nb + c]!;
        const ww = w[(r + nb) * nb + c]!;
        left[r * 2 * nb + c] = vv;
        left[r * 2 * nb + nb + c] = ww;
        right[r * 2 * nb + c] = ww;
        right[r * 2 * nb + nb + c] = vv;
      }
    }
    const blocks = Math.max(1, Math.round(rest / updateBlock));
    const edges = Array.from({ length: blocks + 1 }, (_, b) => Math.round((b * rest) / blocks));
    for (let bi = 0; bi < blocks; bi++) {
      const r0 = edges[bi]!;
      const r1 = edges[bi + 1]!;
      const rows = { data: left.subarray(r0 * 2 * nb, r1 * 2 * nb), rows: r1 - r0, cols: 2 * nb };
      for (let bj = 0; bj <= bi; bj++) {
        const c0 = edges[bj]!;
        const wj = edges[bj + 1]! - c0;
        const product = await la.gemm(rows, { data: right.subarray(c0 * 2 * nb, (c0 + wj) * 2 * nb), rows: wj, cols: 2 * nb }, { transB: true });
        for (let r = r0; r < r1; r++) {
          const out = M + r * rest + c0;
          const src = (r - r0) * wj;
          for (let c = 0; c < wj; c++) f[out + c]! -= product[src + c]!;
        }
      }
    }
    start += nb;
    size = rest;
  }
  return { n, diag, off, panels };
}

/**
 * LAPACK dlarfg on x[from..to-1]: chooses beta and tau so that (I - tau v v^T) x = beta e_1, with
 * v[from] = 1 and v[from+1..] written back into x. Sign chosen against alpha to avoid cancellation.
 */
function householder(x: Float64Array, from: number, to: number): { beta: number; tau: number } {
  const alpha = x[from]!;
  let scale = 0;
  for (let r = from + 1; r < to; r++) scale = Math.max(scale, Math.abs(x[r]!));
  if (scale === 0) return { beta: alpha, tau: 0 };
  // Scaled sum of squares: no overflow or underflow whatever the magnitude of the entries.
  scale = Math.max(scale, Math.abs(alpha));
  let ss = 0;
  for (let r = from; r < to; r++) {
    const t = x[r]! / scale;
    ss += t * t;
  }
  const norm = scale * Math.sqrt(ss);
  const beta = alpha >= 0 ? -norm : norm;
  const tau = (beta - alpha) / beta;
  const inv = 1 / (alpha - beta);
  for (let r = from + 1; r < to; r++) x[r] = x[r]! * inv;
  return { beta, tau };
}

/** Reflectors per back-transformation block: fewer, wider blocks mean fewer passes over Z. */
const BACK_TRANSFORM_WIDTH = 256;

/**
 * Overwrites Z (n x k, row-major: the eigenvectors of the tridiagonal matrix in its columns) with
 * Q Z, Q = H(0) H(1) ... H(n-2), turning them into eigenvectors of the original matrix.
 * Consecutive panels are merged into blocks of about BACK_TRANSFORM_WIDTH reflectors, each applied
 * as I - V T V^T (LAPACK dlarft, forward/columnwise), last block first: every block is a pass over
 * Z, so merging the 64-wide panels cuts the memory traffic fourfold for the same arithmetic.
 */
export async function backTransform(tri: Tridiagonal, z: Float64Array, k: number, la: LinAlg): Promise<void> {
  const groups: Panel[][] = [];
  for (const panel of tri.panels) {
    const last = groups[groups.length - 1];
    const width = last ? last.reduce((s, p) => s + p.nb, 0) : Infinity;
    if (last && width + panel.nb <= BACK_TRANSFORM_WIDTH) last.push(panel);
    else groups.push([panel]);
  }
  for (let g = groups.length - 1; g >= 0; g--) {
    const { start, size, nb, v, tau } = mergePanels(groups[g]!);
    const vMat = { data: v, rows: size, cols: nb };
    const vtv = await la.gemm(vMat, vMat, { transA: true });
    const t = blockReflectorFactor(vtv, tau, nb);
    const zs = z.subarray(start * k, (start + size) * k);
    const vtz = await la.gemm(vMat, { data: zs, rows: size, cols: k }, { transA: true }); // nb x k
    const tvtz = await la.gemm({ data: t, rows: nb, cols: nb }, { data: vtz, rows: nb, cols: k });
    const updated = await la.gemm(vMat, { data: tvtz, rows: nb, cols: k }, { c: { data: zs, rows: size, cols: k }, alpha: -1 });
    z.set(updated, start * k);
  }
}

/** Consecutive panels as one: later panels' vectors are zero above their own start row. */
function mergePanels(group: readonly Panel[]): Panel {
  const first = group[0]!;
  if (group.length === 1) return first;
  const nb = group.reduce((s, p) => s + p.nb, 0);
  const v = new Float64Array(first.size * nb);
  const tau = new Float64Array(nb);
  let col = 0;
  for (const p of group) {
    const rowShift = p.start - first.start;
    for (let r = 0; r < p.size; r++) {
      for (let c = 0; c < p.nb; c++) v[(r + rowShift) * nb + col + c] = p.v[r * p.nb + c]!;
    }
    tau.set(p.tau, col);
    col += p.nb;
  }
  return { start: first.start, size: first.size, nb, v, tau };
}

/** The upper-triangular T with H(0)...H(nb-1) = I - V T V^T, from tau and the Gram matrix V^T V. */
function blockReflectorFactor(vtv: Float64Array, tau: Float64Array, nb: number): Float64Array {
  const t = new Float64Array(nb * nb);
  for (let i = 0; i < nb; i++) {
    const ti = tau[i]!;
    t[i * nb + i] = ti;
    if (ti === 0) continue;
    // T[0:i, i] = -tau_i T[0:i, 0:i] (V[:, 0:i]^T v_i)
    for (let rr = 0; rr < i; rr++) {
      let s = 0;
      for (let c = rr; c < i; c++) s += t[rr * nb + c]! * vtv[c * nb + i]!;
      t[rr * nb + i] = -ti * s;
    }
  }
  return t;
}
