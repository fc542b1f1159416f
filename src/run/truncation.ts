import type { MigrateConfig } from '../config.js';
import type { Sink } from '../sink/types.js';
import type { Embedder } from '../transform/embedder.js';
import type { ReductionPlan } from '../transform/reduction.js';
import { truncationOf } from '../transform/embeddingSpace.js';
import { MAX_EVALUATION, measureTruncation } from '../transform/truncate.js';
import type { RunObserver } from './events.js';
import type { ReductionReport } from './report.js';
import { sampleEmbeddedTexts, sampleStoredVectors, type SampleSource } from './sample.js';

/**
 * The report of a truncation, with the quality figures a PCA fit reports, measured on a uniform
 * sample of the run's vectors (stored ones in keep mode, else the model's embeddings of sampled
 * texts). Small: nothing is fitted, the sample only measures (recall compares every pair).
 */
export async function truncationReport(
  config: MigrateConfig,
  embedder: Embedder | null,
  observe: RunObserver,
  plan: Extract<ReductionPlan, { method: 'truncate' }>,
  sources: SampleSource[],
): Promise<ReductionReport> {
  const { pcaSeed } = config.reduction;
  const size = Math.min(config.reduction.pcaSample, MAX_EVALUATION);
  observe({ type: 'sampling', sampleSize: size, method: 'truncate' });
  const started = performance.now();
  const sample =
    embedder === null || config.embeddings === 'keep' ? await sampleStoredVectors(sources, size, pcaSeed) : await sampleEmbeddedTexts(sources, size, pcaSeed, embedder, config.batchSize);
  const quality = measureTruncation(sample.vectors, plan.dimensions);
  return {
    method: 'truncate',
    sourceDimensions: plan.sourceDimensions,
    targetDimensions: plan.dimensions,
    explainedVariance: quality.explainedVariance,
    recallAt10: quality.recallAt10,
    fitMs: Math.round(performance.now() - started),
    pcaModelId: null,
    reused: false,
    sampleSize: sample.vectors.length,
    evaluation: quality.evaluation,
    notes: [
      `every vector keeps its first ${plan.dimensions} of ${plan.sourceDimensions} numbers, scaled back to unit length; a client shortens its query the same way (the first ${plan.dimensions} numbers; cosine search needs no re-normalization)`,
      `quality measured on ${sample.vectors.length} vectors drawn uniformly from ${sample.population} across ${sample.stores} stores (seed ${pcaSeed})`,
    ],
  };
}

/**
 * The table's truncation, read from the fingerprint most of its rows carry (null: its vectors are
 * not truncations). Application rows carry none; a table of mixed fingerprints is doctor's to report.
 */
export async function tableTruncation(sink: Sink, table: string): Promise<{ sourceDimensions: number; dimensions: number } | null> {
  const recorded = (await sink.reads.embeddingFingerprints({ table })).find((f) => f.fingerprint !== null);
  return truncationOf(recorded?.fingerprint ?? null);
}
