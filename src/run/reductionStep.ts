import type { MigrateConfig } from '../config.js';
import { MigrateError } from '../errors.js';
import type { DatabaseInfo, NewPcaModel, PcaModelRecord } from '../sink/types.js';
import type { Embedder } from '../transform/embedder.js';
import type { Projector } from '../transform/pca/index.js';
import { createSearchProjector, fitReduction, measureQuality, type FittedReduction } from '../transform/pcaFit.js';
import type { ReductionPlan } from '../transform/reduction.js';
import { projectedSpace, truncatedSpace, type EmbeddingSpace } from '../transform/embeddingSpace.js';
import { projecting, truncating, type Vectorizer } from '../transform/vectorize.js';
import type { RunObserver } from './events.js';
import { storeLabel } from '../storeLabel.js';
import { fromPcaModelRecord, toNewPcaModel } from './pcaModelRecord.js';
import type { ReductionReport, StoreReport } from './report.js';
import type { SampleSource } from './sample.js';
import { sampleEmbeddedTexts, sampleStoredVectors } from './sample.js';
import { truncationReport } from './truncation.js';

/** A recall@10 under this after a fit is reported as a warning. */
const RECALL_WARNING = 0.9;

/**
 * The PCA model a run projects with. 'save': fitted by this run, saved before its loads;
 * 'refit' (--refit-pca): saved inside the one transaction that rewrites every store; 'reuse':
 * the table's active model. The projector is released by whoever ends the run.
 */
export type PcaStep =
  | { kind: 'none' }
  | { kind: 'reuse'; record: PcaModelRecord; projector: Projector }
  | { kind: 'save'; pending: NewPcaModel; projector: Projector }
  | { kind: 'refit'; pending: NewPcaModel; projector: Projector };

/** A vectorizer and the space of what it produces: they change together (a truncation, a PCA projection). */
export interface RunVectors {
  vectorizer: Vectorizer;
  space: EmbeddingSpace;
}

/** `base` projected by a saved (or reused) PCA model: the vectors of a PCA run's loads. */
export function projectedWith(base: RunVectors, projector: Projector, model: { id: string; targetDimensions: number }): RunVectors {
  return { vectorizer: projecting(base.vectorizer, projector, model), space: projectedSpace(base.space, model) };
}

export interface ReductionStep {
  reduction: ReductionReport;
  pca: PcaStep;
  /** The run's vectors before any PCA projection (truncated when the plan truncates). */
  vectors: RunVectors;
  warnings: string[];
}

/**
 * Keep mode loads every store in one dimension: the table's (when it already has rows of a
 * dimension, and they are not truncations of longer vectors) or else the dimension most stored
 * vectors have. Stores of another dimension fail.
 * When every store failed (a wrong master key), the dimension of their readable pickles still
 * lets the run record each store's own failure in the ledger instead of hiding them.
 */
export function keptDimensions(valid: readonly StoreReport[], reports: readonly StoreReport[], active: PcaModelRecord | null, info: DatabaseInfo, refit: boolean, truncate: boolean): number {
  if (active !== null && !refit) return active.sourceDimensions;
  if (info.tableExists && active === null && info.tableDimensions !== null && !truncate) return info.tableDimensions;
  const failed = reports.filter((r) => r.status === 'failed');
  const top = mostVectorsDimension(valid) ?? mostVectorsDimension(failed);
  if (top === null) {
    const why = failed.length === 0 ? 'every store is empty' : `every store failed: ${failed.slice(0, 5).map((r) => `${storeLabel(r)} ${r.error?.code ?? ''}`).join(', ')}${failed.length > 5 ? ', …' : ''}`;
    throw new MigrateError('E_USAGE', `keep mode found no stored vectors to load (${why})`);
  }
  return top;
}

function mostVectorsDimension(reports: readonly StoreReport[]): number | null {
  const vectorsByDim = new Map<number, number>();
  for (const r of reports) {
    const d = r.storedDimensions;
    if (d !== null) vectorsByDim.set(d, (vectorsByDim.get(d) ?? 0) + (r.vectors ?? 0));
  }
  const ranked = [...vectorsByDim.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return ranked[0]?.[0] ?? null;
}

function unreduced(plan: ReductionPlan, sourceDimensions: number): ReductionReport {
  return { method: plan.method, sourceDimensions, targetDimensions: plan.dimensions, explainedVariance: 1, recallAt10: null, fitMs: 0, pcaModelId: null, reused: false, sampleSize: null, evaluation: null, notes: [] };
}

function reusedReport(active: PcaModelRecord): ReductionReport {
  const stored = active.fit['quality'] as { recallAt10?: number | null; evaluation?: 'held-out' | 'in-sample' } | undefined;
  return {
    method: 'pca',
    sourceDimensions: active.sourceDimensions,
    targetDimensions: active.targetDimensions,
    explainedVariance: measureQuality(fromPcaModelRecord(active), [], 'held-out').explainedVariance,
    recallAt10: stored?.recallAt10 ?? null,
    fitMs: 0,
    pcaModelId: active.id,
    reused: true,
    sampleSize: active.sampleSize,
    evaluation: stored?.evaluation ?? null,
    notes: [`reused the table's PCA model ${active.id} (fitted ${active.createdAt}); --refit-pca replaces it`],
  };
}

async function fit(
  config: MigrateConfig,
  embedder: Embedder | null,
  observe: RunObserver,
  plan: Extract<ReductionPlan, { method: 'pca' }>,
  sources: SampleSource[],
): Promise<{ fitted: FittedReduction; reduction: ReductionReport }> {
  const { pcaSample, pcaSeed } = config.reduction;
  observe({ type: 'sampling', sampleSize: pcaSample, method: 'pca' });
  const sample =
    embedder === null || config.embeddings === 'keep'
      ? await sampleStoredVectors(sources, pcaSample, pcaSeed)
      : await sampleEmbeddedTexts(sources, pcaSample, pcaSeed, embedder, config.batchSize);
  const fitted = await fitReduction(sample.vectors, plan.dimensions);
  const { quality } = fitted;
  return {
    fitted,
    reduction: {
      method: 'pca',
      sourceDimensions: plan.sourceDimensions,
      targetDimensions: plan.dimensions,
      explainedVariance: quality.explainedVariance,
      recallAt10: quality.recallAt10,
      fitMs: fitted.fitMs,
      pcaModelId: null,
      reused: false,
      sampleSize: fitted.model.sampleSize,
      evaluation: quality.evaluation,
      notes: [`sample of ${sample.vectors.length} vectors drawn uniformly from ${sample.population} across ${sample.stores} stores (seed ${pcaSeed})`, ...fitted.model.notes],
    },
  };
}

/**
 * Fits (or reuses) the PCA model, or measures a truncation, on the run's valid stores: what the
 * loads will project with and what the report says it costs.
 */
export async function reductionStep(
  input: { config: MigrateConfig; runId: string; embedder: Embedder | null; observe: RunObserver },
  plan: ReductionPlan,
  sourceDimensions: number,
  active: PcaModelRecord | null,
  base: RunVectors,
  sources: SampleSource[],
): Promise<ReductionStep> {
  const { config, runId, embedder, observe } = input;
  if (plan.method === 'pca') {
    if (plan.model === 'reuse' && active !== null) {
      return { reduction: reusedReport(active), pca: { kind: 'reuse', record: active, projector: createSearchProjector(fromPcaModelRecord(active)) }, vectors: base, warnings: [] };
    }
    const { fitted, reduction } = await fit(config, embedder, observe, plan, sources);
    const pending = toNewPcaModel(config.table, fitted, { runId, seed: config.reduction.pcaSeed, requestedSample: config.reduction.pcaSample, strategy: 'uniform reservoir sample across all users and stores', embeddings: config.embeddings, source: base.vectorizer.label });
    const warnings =
      reduction.recallAt10 !== null && reduction.recallAt10 < RECALL_WARNING
        ? [`PCA to ${plan.dimensions} dimensions keeps a neighbour recall@10 of ${reduction.recallAt10.toFixed(3)} (under ${RECALL_WARNING}): search quality drops; consider --reduce halfvec or more dimensions`]
        : [];
    const projector = createSearchProjector(fitted.model);
    return { reduction, pca: config.reduction.refit ? { kind: 'refit', pending, projector } : { kind: 'save', pending, projector }, vectors: base, warnings };
  }
  if (plan.method === 'truncate') {
    const reduction = await truncationReport(config, embedder, observe, plan, sources);
    const warnings =
      reduction.recallAt10 !== null && reduction.recallAt10 < RECALL_WARNING
        ? [`truncating to ${plan.dimensions} dimensions keeps a neighbour recall@10 of ${reduction.recallAt10.toFixed(3)} (under ${RECALL_WARNING}): these vectors were not trained to be shortened; consider --reduce halfvec or pca`]
        : [];
    const vectors = { vectorizer: truncating(base.vectorizer, plan.dimensions), space: truncatedSpace(base.space, plan.dimensions) };
    return { reduction, pca: { kind: 'none' }, vectors, warnings };
  }
  return { reduction: unreduced(plan, sourceDimensions), pca: { kind: 'none' }, vectors: base, warnings: [] };
}
