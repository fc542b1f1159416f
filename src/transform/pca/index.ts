/**
 * Dimension reduction for stores whose embeddings exceed pgvector's 2000-dimension index limit:
 * a PCA fitted once per table on a sample, projecting vectors at load time (batched) and query
 * embeddings at query time (one at a time).
 */
export { fitPca } from './fit.js';
export { createProjector, projectOne } from './project.js';
export { explainedVarianceRatio, recallAtK, type HeldOutQueries, type RecallMetric } from './metrics.js';
export { parsePcaModel, serializePcaModel } from './serialize.js';
export type { FitPcaOptions, PcaEngine, PcaModel, PcaStage, Projector, ProjectorOptions, SampleInput, Vector } from './types.js';
