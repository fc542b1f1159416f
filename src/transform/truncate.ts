/**
 * Truncation (--reduce truncate): a vector's first n numbers, scaled back to unit length. This is
 * how Matryoshka-trained models (text-embedding-3-*, gemini-embedding-001) are meant to be
 * shortened, and the space the original app queries in: it sends x[:2000] without re-normalizing,
 * which cosine distance (the table's) does not mind. Unlike PCA there is no model: any client can
 * reduce its query the same way.
 */
import { recallAtK, type Vector } from './pca/index.js';
import { RECALL_K, toUnit, type Quality } from './pcaFit.js';

/** At most this many sample vectors are compared for recall (each against all the others). */
export const MAX_EVALUATION = 1000;

/** What a vector becomes in a truncated table (load time and query time alike). */
export function truncateForSearch(v: Vector, dimensions: number): Float32Array {
  return toUnit(v.subarray(0, dimensions));
}

/**
 * Quality of truncating `sample` to `dimensions`, with the same figures as a PCA fit's:
 * explainedVariance is the share of squared norm the kept numbers hold (mean over the sample's
 * unit vectors; zero vectors have none to keep and are left out); recallAt10 compares cosine
 * neighbours in the full space with cosine neighbours of the truncated vectors. Nothing is fitted,
 * so every sample vector is held out.
 */
export function measureTruncation(sample: readonly Vector[], dimensions: number): Quality {
  let kept = 0;
  let counted = 0;
  for (const v of sample) {
    const unit = toUnit(v);
    let total = 0;
    let head = 0;
    for (let i = 0; i < unit.length; i++) {
      const s = (unit[i] as number) * (unit[i] as number);
      total += s;
      if (i < dimensions) head += s;
    }
    if (total === 0) continue;
    kept += head / total;
    counted++;
  }
  const explainedVariance = counted === 0 ? 0 : kept / counted;
  const evaluation = sample.slice(0, MAX_EVALUATION);
  if (evaluation.length < 2) return { explainedVariance, recallAt10: null, evaluation: 'held-out', evaluationRows: evaluation.length };
  const full = evaluation.map(toUnit);
  const reduced = evaluation.map((v) => truncateForSearch(v, dimensions));
  const k = Math.min(RECALL_K, evaluation.length - 1);
  const recallAt10 = recallAtK(full, reduced, evaluation.map((_, i) => i), k, 'cosine');
  return { explainedVariance, recallAt10, evaluation: 'held-out', evaluationRows: evaluation.length };
}
