import { MigrateError } from '../../errors.js';
import type { PcaModel, Vector } from './types.js';

/** Share of the sample's total variance the kept components explain, in [0, 1]. */
export function explainedVarianceRatio(model: PcaModel): number {
  let kept = 0;
  for (const v of model.explainedVariance) kept += v;
  return model.totalVariance > 0 ? kept / model.totalVariance : 0;
}

export type RecallMetric = 'l2' | 'cosine';

/** Query vectors in both spaces (held out from the corpus). */
export interface HeldOutQueries {
  full: readonly Vector[];
  reduced: readonly Vector[];
}

/**
 * Mean neighbour recall@k of the reduced space against the full space: for each query, the share
 * of its k exact nearest corpus vectors in the full space that are also among its k nearest in the
 * reduced space.
 *
 * The metric defaults to 'l2' because that is the geometry the projection keeps: it is mean-centred,
 * so Euclidean distances inside the kept subspace are preserved but norms (and so cosines) are not.
 * For unit-length source vectors, L2 order in the full space is the same as cosine order, so
 * 'l2' here answers "does reduced-space L2 search find the full-space cosine neighbours".
 *
 * `queries` are corpus indices (each query's own row is excluded from its neighbours) or held-out
 * vectors given in both spaces.
 */
export function recallAtK(
  full: readonly Vector[],
  reduced: readonly Vector[],
  queries: readonly number[] | HeldOutQueries,
  k = 10,
  metric: RecallMetric = 'l2',
): number {
  if (full.length !== reduced.length) {
    throw new MigrateError('E_USAGE', `recall@k needs the same corpus in both spaces (${full.length} full vs ${reduced.length} reduced vectors)`);
  }
  if (!Number.isInteger(k) || k < 1) throw new MigrateError('E_USAGE', `recall@k needs a positive integer k, got ${k}`);
  const byIndex = Array.isArray(queries);
  const queryCount = byIndex ? (queries as readonly number[]).length : (queries as HeldOutQueries).full.length;
  if (!byIndex && (queries as HeldOutQueries).reduced.length !== queryCount) {
    throw new MigrateError('E_USAGE', 'recall@k held-out queries differ in number between the two spaces');
  }
  if (queryCount === 0) throw new MigrateError('E_USAGE', 'recall@k needs at least one query');
  const fullNorms = metric === 'cosine' ? full.map(norm) : null;
  const reducedNorms = metric === 'cosine' ? reduced.map(norm) : null;
  let total = 0;
  for (let q = 0; q < queryCount; q++) {
    let exclude = -1;
    let qFull: Vector;
    let qReduced: Vector;
    if (byIndex) {
      const index = (queries as readonly number[])[q]!;
      if (!Number.isInteger(index) || index < 0 || index >= full.length) {
        throw new MigrateError('E_USAGE', `recall@k query index ${index} is outside the corpus of ${full.length}`);
      }
      exclude = index;
      qFull = full[index]!;
      qReduced = reduced[index]!;
    } else {
      qFull = (queries as HeldOutQueries).full[q]!;
      qReduced = (queries as HeldOutQueries).reduced[q]!;
    }
    const kk = Math.min(k, full.length - (exclude >= 0 ? 1 : 0));
    if (kk < 1) throw new MigrateError('E_USAGE', 'recall@k needs a corpus larger than one vector');
    const truth = nearest(full, fullNorms, qFull, kk, exclude, metric);
    const found = new Set(nearest(reduced, reducedNorms, qReduced, kk, exclude, metric));
    let hits = 0;
    for (const t of truth) if (found.has(t)) hits++;
    total += hits / kk;
  }
  return total / queryCount;
}

function norm(v: Vector): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** Indices of the k nearest corpus vectors; ties go to the lower index, so results are reproducible. */
function nearest(
  corpus: readonly Vector[],
  norms: number[] | null,
  q: Vector,
  k: number,
  exclude: number,
  metric: RecallMetric,
): number[] {
  const qNorm = metric === 'cosine' ? norm(q) : 0;
  const dist = new Float64Array(corpus.length);
  corpus.forEach((v, i) => {
    if (v.length !== q.length) throw new MigrateError('E_USAGE', `recall@k vector ${i} has ${v.length} dimensions, the query ${q.length}`);
    if (metric === 'l2') {
      let s = 0;
      for (let j = 0; j < q.length; j++) {
        const t = v[j]! - q[j]!;
        s += t * t;
      }
      dist[i] = s;
    } else {
      let s = 0;
      for (let j = 0; j < q.length; j++) s += v[j]! * q[j]!;
      const denom = norms![i]! * qNorm;
      dist[i] = denom > 0 ? 1 - s / denom : 1;
    }
  });
  const order: number[] = [];
  for (let i = 0; i < corpus.length; i++) if (i !== exclude) order.push(i);
  order.sort((a, b) => dist[a]! - dist[b]! || a - b);
  return order.slice(0, k);
}
