export type Vector = Float32Array | Float64Array;

/** A fitted PCA: `project(v) = components (v - mean)`. */
export interface PcaModel {
  sourceDimensions: number;
  /** Number of components actually fitted; can be below the requested target (see `notes`). */
  targetDimensions: number;
  /** Length sourceDimensions. */
  mean: Float32Array;
  /** targetDimensions x sourceDimensions, row-major; orthonormal rows, largest-|entry| positive. */
  components: Float32Array;
  /** Sample variance (denominator n-1) along each component, descending. */
  explainedVariance: Float64Array;
  /** Sum of the sample variances of all source dimensions. */
  totalVariance: number;
  sampleSize: number;
  /** How the components were found: 'covariance-eigh' (d x d covariance) or 'gram-eigh' (n x n Gram matrix, n <= d). */
  method: string;
  /** Decisions the fit made that a caller should know about (reduced target, engine fallback, ...). */
  notes: string[];
}

/** Rows as separate vectors, or one row-major matrix. */
export type SampleInput = readonly Vector[] | { rows: number; cols: number; data: Float32Array };

export type PcaEngine = 'auto' | 'onnxruntime' | 'js';

export type PcaStage = 'validate' | 'covariance' | 'gram' | 'tridiagonalize' | 'eigenvectors' | 'back-transform' | 'components';

export interface FitPcaOptions {
  /**
   * Where the dense products run: onnxruntime-node (fast, multi-threaded), plain JavaScript, or
   * 'auto' (default): JavaScript for small problems, onnxruntime otherwise, JavaScript with a note
   * when onnxruntime cannot be loaded.
   */
  engine?: PcaEngine;
  /** onnxruntime threads per product; default onnxruntime's choice (one per physical core). */
  threads?: number;
  /**
   * Eigenvalues at or below this fraction of the largest count as zero variance, which bounds the
   * number of components (the sample's numerical rank). Default 1e-10.
   */
  rankTolerance?: number;
  /** Sample rows per covariance product; default 2048. */
  chunkRows?: number;
  /** Panel width of the blocked tridiagonalization; default 64. */
  blockSize?: number;
  /** Called after each stage with its wall time, for benchmarks and progress output. */
  onStage?: (stage: PcaStage, ms: number) => void;
}

export interface ProjectorOptions {
  /** 'auto' (default): onnxruntime when it loads, else JavaScript. */
  engine?: PcaEngine;
  threads?: number;
  /** Vectors per matrix product; default 1024. */
  batchSize?: number;
}

export interface Projector {
  /** Projects each vector; the result order follows the input. */
  project(vectors: readonly Vector[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}
