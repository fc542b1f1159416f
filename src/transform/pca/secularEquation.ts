/**
 * The secular equation of one divide-and-conquer merge (LAPACK's dlaed4) and the eigenvectors of
 * D + rho z z^T from its roots (dlaed3).
 */

const EPS = Number.EPSILON;
/** Secular-equation iterations before giving up on the rational step (bisection always ends). */
const MAX_SECULAR_ITERATIONS = 200;

export interface SecularRoots {
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
export function secularRoots(d: Float64Array, z: Float64Array, rho: number): SecularRoots {
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
export function updateEigenvectors(d: Float64Array, z: Float64Array, rho: number, roots: SecularRoots, cols: readonly number[]): Float64Array {
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
