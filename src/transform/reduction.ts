import { MigrateError } from '../errors.js';
import { MAX_HNSW_DIMENSIONS } from '../sink/limits.js';
import type { VectorType } from '../sink/types.js';

/** halfvec (and its HNSW operator classes) arrived in pgvector 0.7.0. */
export const HALFVEC_SINCE = '0.7.0';

export type ReduceMode = 'auto' | 'pca' | 'truncate' | 'halfvec' | 'none';

export type ReductionPlan =
  | { method: 'none'; vectorType: 'vector'; sourceDimensions: number; dimensions: number }
  | { method: 'halfvec'; vectorType: 'halfvec'; sourceDimensions: number; dimensions: number }
  | { method: 'pca'; vectorType: 'vector'; sourceDimensions: number; dimensions: number; model: 'fit' | 'reuse' }
  /** The first `dimensions` numbers, re-normalized (transform/truncate.ts). */
  | { method: 'truncate'; vectorType: 'vector'; sourceDimensions: number; dimensions: number };

export interface ActivePca {
  id: string;
  sourceDimensions: number;
  targetDimensions: number;
}

export interface ReductionInputs {
  /** Dimension of the vectors before reduction (the model's, or the stored vectors'). */
  sourceDimensions: number;
  mode: ReduceMode;
  /** --dimensions: reduce to this on purpose. */
  dimensions: number | null;
  pgvectorVersion: string | null;
  /** The table's active PCA model, if its rows were projected. */
  activePca: ActivePca | null;
  refit: boolean;
}

function versionAtLeast(version: string | null, wanted: string): boolean {
  if (version === null) return false;
  const a = version.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const b = wanted.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

/** The dimension PCA or truncation reduces `d` to: `wanted` (--dimensions), else the index limit. */
function pcaTarget(d: number, wanted: number | null): number {
  const target = wanted ?? MAX_HNSW_DIMENSIONS.vector;
  if (target >= d) {
    throw new MigrateError('E_USAGE', `--dimensions ${target} does not reduce ${d}-dimension vectors; choose a number below ${d}`);
  }
  if (target > MAX_HNSW_DIMENSIONS.vector) {
    throw new MigrateError('E_USAGE', `--dimensions ${target} is over pgvector's ${MAX_HNSW_DIMENSIONS.vector}-dimension index limit for vector`);
  }
  return target;
}

/**
 * Decides how vectors of `sourceDimensions` reach the table, before anything is read or written.
 * A table whose rows were projected keeps its PCA model (support staff re-running a user must land
 * in the same space); only --refit-pca replaces it.
 */
export function planReduction(inputs: ReductionInputs): ReductionPlan {
  const { sourceDimensions: d, mode, dimensions, activePca, refit } = inputs;
  if (dimensions !== null && (mode === 'none' || mode === 'halfvec')) {
    throw new MigrateError('E_USAGE', `--dimensions reduces with PCA or truncation; it cannot be combined with --reduce ${mode}`);
  }

  if (activePca !== null && !refit) {
    if (mode === 'none' || mode === 'halfvec' || mode === 'truncate') {
      throw new MigrateError('E_USAGE', `the table's rows were projected by PCA model ${activePca.id}; --reduce ${mode} would mix two spaces (use --refit-pca to rewrite them, or another --table)`);
    }
    if (activePca.sourceDimensions !== d) {
      throw new MigrateError(
        'E_DIM_MISMATCH',
        `the table's PCA model ${activePca.id} projects ${activePca.sourceDimensions}-dimension vectors, but these are ${d}-dimension; use the same model or another --table`,
      );
    }
    if (dimensions !== null && dimensions !== activePca.targetDimensions) {
      throw new MigrateError('E_USAGE', `the table's PCA model reduces to ${activePca.targetDimensions} dimensions; --dimensions ${dimensions} needs --refit-pca and a new --table`);
    }
    return { method: 'pca', vectorType: 'vector', sourceDimensions: d, dimensions: activePca.targetDimensions, model: 'reuse' };
  }
  if (activePca !== null) {
    // A refit re-projects the table's rows in place: same column, so PCA to the same dimension.
    if (mode === 'none' || mode === 'halfvec' || mode === 'truncate') {
      throw new MigrateError('E_USAGE', `--refit-pca fits a new PCA model for the table's vector(${activePca.targetDimensions}) column; --reduce ${mode} needs another --table`);
    }
    if (dimensions !== null && dimensions !== activePca.targetDimensions) {
      throw new MigrateError('E_USAGE', `the table's column holds ${activePca.targetDimensions} dimensions; a refit to --dimensions ${dimensions} needs another --table`);
    }
    return { method: 'pca', vectorType: 'vector', sourceDimensions: d, dimensions: pcaTarget(d, activePca.targetDimensions), model: 'fit' };
  }

  switch (mode) {
    case 'none':
      if (d > MAX_HNSW_DIMENSIONS.vector) {
        throw new MigrateError(
          'E_DIM_MISMATCH',
          `${d}-dimension vectors exceed pgvector's ${MAX_HNSW_DIMENSIONS.vector}-dimension index limit and --reduce none forbids reducing them; use --reduce auto, pca or halfvec`,
        );
      }
      return { method: 'none', vectorType: 'vector', sourceDimensions: d, dimensions: d };
    case 'halfvec':
      if (d > MAX_HNSW_DIMENSIONS.halfvec) {
        throw new MigrateError('E_DIM_MISMATCH', `${d}-dimension vectors exceed halfvec's ${MAX_HNSW_DIMENSIONS.halfvec}-dimension index limit; use --reduce pca`);
      }
      if (!versionAtLeast(inputs.pgvectorVersion, HALFVEC_SINCE)) {
        throw new MigrateError('E_CONNECT', `halfvec needs pgvector ${HALFVEC_SINCE} or newer; the database has ${inputs.pgvectorVersion ?? 'no pgvector'}`);
      }
      return { method: 'halfvec', vectorType: 'halfvec', sourceDimensions: d, dimensions: d };
    case 'pca':
      if (dimensions === null && d <= MAX_HNSW_DIMENSIONS.vector) {
        throw new MigrateError('E_USAGE', `${d}-dimension vectors fit pgvector's index already; --reduce pca needs --dimensions N to reduce them further`);
      }
      return { method: 'pca', vectorType: 'vector', sourceDimensions: d, dimensions: pcaTarget(d, dimensions), model: 'fit' };
    case 'truncate':
      if (dimensions === null && d <= MAX_HNSW_DIMENSIONS.vector) {
        throw new MigrateError('E_USAGE', `${d}-dimension vectors fit pgvector's index already; --reduce truncate needs --dimensions N to shorten them`);
      }
      return { method: 'truncate', vectorType: 'vector', sourceDimensions: d, dimensions: pcaTarget(d, dimensions) };
    case 'auto':
      if (dimensions !== null) return { method: 'pca', vectorType: 'vector', sourceDimensions: d, dimensions: pcaTarget(d, dimensions), model: 'fit' };
      if (d <= MAX_HNSW_DIMENSIONS.vector) return { method: 'none', vectorType: 'vector', sourceDimensions: d, dimensions: d };
      if (d <= MAX_HNSW_DIMENSIONS.halfvec && versionAtLeast(inputs.pgvectorVersion, HALFVEC_SINCE)) {
        return { method: 'halfvec', vectorType: 'halfvec', sourceDimensions: d, dimensions: d };
      }
      return { method: 'pca', vectorType: 'vector', sourceDimensions: d, dimensions: MAX_HNSW_DIMENSIONS.vector, model: 'fit' };
  }
}

/** The table's column must match the plan: same type, same dimension. */
export function checkTableMatches(plan: ReductionPlan, table: string, existing: { exists: boolean; dimensions: number | null; vectorType: VectorType | null }): void {
  if (!existing.exists) return;
  if ((existing.vectorType ?? 'vector') !== plan.vectorType || existing.dimensions !== plan.dimensions) {
    throw new MigrateError(
      'E_DIM_MISMATCH',
      `table ${table} holds ${existing.vectorType ?? 'vector'}(${existing.dimensions}) but this run produces ${plan.vectorType}(${plan.dimensions}) (${plan.method === 'none' ? 'no reduction' : plan.method}); ${matchingFlags(plan, existing)}`,
    );
  }
}

/**
 * What to pass so the run produces the table's column (a table `relayout` re-typed or shortened
 * keeps taking loads this way), or, when no reduction can, another table.
 */
function matchingFlags(plan: ReductionPlan, existing: { dimensions: number | null; vectorType: VectorType | null }): string {
  const type = existing.vectorType ?? 'vector';
  const dims = existing.dimensions;
  if (dims === plan.sourceDimensions && type === 'halfvec') return 'pass --reduce halfvec to load it (as the table was built or re-laid out), or use another --table';
  if (dims !== null && dims < plan.sourceDimensions && type === 'vector') {
    return `pass --reduce truncate --dimensions ${dims} or --reduce pca --dimensions ${dims}, whichever the table was built or re-laid out with (its rows' embedding_fingerprint says), or use another --table`;
  }
  return 'use another --table or the settings the table was built with';
}
