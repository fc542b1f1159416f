export const DEFAULTS = {
  model: 'Xenova/all-MiniLM-L6-v2',
  /** Which of the model's ONNX files embeds (transformers.js dtype): fp32 is onnx/model.onnx. */
  dtype: 'fp32',
  batchSize: 32,
  table: 'vector_documents',
  pgliteDir: '.pgvector-migrate/pglite',
  backupRoot: 'migration_backup',
  /** Texts embedded during a dry run to estimate the time of the real one. */
  dryRunSampleSize: 64,
  pcaSample: 20000,
  /** Seed of the PCA sample, recorded with the model so a fit can be repeated. */
  pcaSeed: 20000,
  /** `embedding_model` of rows loaded in keep mode. */
  keptLabel: 'stored',
  /** Days the rows a run replaced are kept in <table>_previous for rollback. */
  keepPreviousDays: 7,
} as const;

/** The --dtype choices: onnx/model.onnx, model_fp16.onnx, model_quantized.onnx, model_q4.onnx. */
export const DTYPES = ['fp32', 'fp16', 'q8', 'q4'] as const;
export type EmbeddingDtype = (typeof DTYPES)[number];
