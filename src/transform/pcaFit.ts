import { MigrateError } from '../errors.js';
import { createProjector, explainedVarianceRatio, fitPca, projectOne, recallAtK, type PcaModel, type Projector, type Vector } from './pca/index.js';

/*
 * The convention every PCA model of this tool follows: vectors are scaled to unit length before
 * they are centred and projected, and the table is searched by L2 distance (`<->`). For unit
 * vectors L2 order is cosine order, and the mean-centred projection preserves L2 distances within
 * the kept subspace, so L2 search on the projections reproduces the original cosine search. (Cosine
 * search on mean-centred projections does not: centring changes angles; measured recall@10 0.87
 * against 0.998 for L2 on the same projections.)
 */

/** Neighbours compared in the quality figure (recall@10). */
export const RECALL_K = 10;
/** Below this many sample vectors the evaluation reuses the fitting sample (too few to hold some out). */
const MIN_SAMPLE_FOR_HOLDOUT = 200;
const HOLDOUT_SHARE = 0.1;
const MAX_HOLDOUT = 1000;

export interface Quality {
  explainedVariance: number;
  /** Mean neighbour recall@10 of the reduced space against the full space; null with fewer than 2 evaluation vectors. */
  recallAt10: number | null;
  /** Whether the evaluation vectors were held out of the fit, or (small samples) were the fit's own sample. */
  evaluation: 'held-out' | 'in-sample';
  evaluationRows: number;
}

export interface FittedReduction {
  model: PcaModel;
  evaluation: Float32Array[];
  quality: Quality;
  fitMs: number;
}

/**
 * Pads a model whose sample had fewer meaningful directions than the target: the extra
 * components are zero rows, so those coordinates are always 0. The table keeps the dimension that
 * was asked for (a later --refit-pca on more data fills it in place), and distances are exactly
 * those of the meaningful components.
 */
export function padModel(model: PcaModel, target: number): PcaModel {
  if (model.targetDimensions >= target) return model;
  const components = new Float32Array(target * model.sourceDimensions);
  components.set(model.components);
  const explainedVariance = new Float64Array(target);
  explainedVariance.set(model.explainedVariance);
  return {
    ...model,
    targetDimensions: target,
    components,
    explainedVariance,
    notes: [
      ...model.notes,
      `the sample has only ${model.targetDimensions} directions of non-zero variance; components ${model.targetDimensions + 1}..${target} are zero (refit with --refit-pca once more vectors exist)`,
    ],
  };
}

/** The vector scaled to unit length (a zero vector stays zero: it has no direction to keep). */
export function toUnit(v: Vector): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s);
  const out = Float32Array.from(v);
  if (n > 0) for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / n;
  return out;
}

/** Query time: what a vector becomes in the table's space. */
export function projectForSearch(model: PcaModel, v: Vector): Float32Array {
  return projectOne(model, toUnit(v));
}

/** Load time: the same as projectForSearch, batched. */
export function createSearchProjector(model: PcaModel): Projector {
  const inner = createProjector(model);
  return { project: (vectors) => inner.project(vectors.map(toUnit)), dispose: () => inner.dispose() };
}

/**
 * Quality of a reduction, computed only from what the database keeps (the model and its
 * evaluation vectors), so anyone can recompute the report's figures from the database.
 * Recall compares what search returns: cosine neighbours in the full space (the original search)
 * against L2 neighbours of the projections (the table's `<->` search).
 */
export function measureQuality(model: PcaModel, evaluation: readonly Float32Array[], kind: Quality['evaluation']): Quality {
  const explainedVariance = explainedVarianceRatio(model);
  if (evaluation.length < 2) return { explainedVariance, recallAt10: null, evaluation: kind, evaluationRows: evaluation.length };
  const full = evaluation.map(toUnit);
  const reduced = evaluation.map((v) => projectForSearch(model, v));
  const k = Math.min(RECALL_K, evaluation.length - 1);
  const queries = evaluation.map((_, i) => i);
  return { explainedVariance, recallAt10: recallAtK(full, reduced, queries, k, 'l2'), evaluation: kind, evaluationRows: evaluation.length };
}

/**
 * Fits a PCA of `sample` (already shuffled; scaled to unit length here, see the convention above)
 * to `target` dimensions, holding some vectors out to measure it.
 */
export async function fitReduction(raw: readonly Vector[], target: number): Promise<FittedReduction> {
  if (raw.length === 0) throw new MigrateError('E_USAGE', 'no vectors to fit a PCA model on: every store failed or is empty');
  const sample = raw.map(toUnit);
  const holdout = sample.length >= MIN_SAMPLE_FOR_HOLDOUT ? Math.min(MAX_HOLDOUT, Math.floor(sample.length * HOLDOUT_SHARE)) : 0;
  const fitting = sample.slice(0, sample.length - holdout);
  const evaluation = holdout > 0 ? sample.slice(sample.length - holdout) : fitting;
  const started = performance.now();
  const model = padModel(await fitPca(fitting, target), target);
  const fitMs = Math.round(performance.now() - started);
  if (holdout === 0) model.notes.push(`the sample (${sample.length} vectors) is too small to hold vectors out: quality is measured on the fitting sample itself`);
  return { model, evaluation: [...evaluation], quality: measureQuality(model, evaluation, holdout > 0 ? 'held-out' : 'in-sample'), fitMs };
}
