import type { NewPcaModel, PcaModelRecord } from '../sink/types.js';
import type { PcaModel } from '../transform/pca/index.js';
import type { FittedReduction } from '../transform/pcaFit.js';

/** A model as the database keeps it, with how it was made and the vectors its quality was measured on. */
export function modelToRecord(table: string, model: PcaModel, fit: Record<string, unknown>, evaluation: readonly Float32Array[]): NewPcaModel {
  const d = model.sourceDimensions;
  const evaluationData = new Float32Array(evaluation.length * d);
  evaluation.forEach((v, i) => evaluationData.set(v, i * d));
  return {
    table,
    sourceDimensions: d,
    targetDimensions: model.targetDimensions,
    mean: model.mean,
    components: model.components,
    explainedVariance: model.explainedVariance,
    totalVariance: model.totalVariance,
    sampleSize: model.sampleSize,
    method: model.method,
    fit: { ...fit, notes: model.notes },
    evaluation: evaluationData,
    evaluationRows: evaluation.length,
  };
}

/** What the database keeps of a fit: the model, its held-out vectors, and how it was made. */
export function toNewPcaModel(table: string, fitted: FittedReduction, how: Record<string, unknown>): NewPcaModel {
  return modelToRecord(table, fitted.model, { ...how, fitMs: fitted.fitMs, quality: fitted.quality }, fitted.evaluation);
}

export function fromPcaModelRecord(record: PcaModelRecord): PcaModel {
  const notes = Array.isArray(record.fit['notes']) ? (record.fit['notes'] as unknown[]).filter((n): n is string => typeof n === 'string') : [];
  return {
    sourceDimensions: record.sourceDimensions,
    targetDimensions: record.targetDimensions,
    mean: record.mean,
    components: record.components,
    explainedVariance: record.explainedVariance,
    totalVariance: record.totalVariance,
    sampleSize: record.sampleSize,
    method: record.method,
    notes,
  };
}

/** The evaluation vectors a record keeps, as separate rows. */
export function evaluationRows(record: Pick<PcaModelRecord, 'evaluation' | 'evaluationRows' | 'sourceDimensions'>): Float32Array[] {
  const d = record.sourceDimensions;
  return Array.from({ length: record.evaluationRows }, (_, i) => record.evaluation.slice(i * d, (i + 1) * d));
}
