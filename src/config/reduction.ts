import type { ReduceMode } from '../transform/reduction.js';
import { DEFAULTS } from './defaults.js';
import { oneOf, positiveInt } from './flagValues.js';

export interface ReductionConfig {
  mode: ReduceMode;
  /** --dimensions: reduce to this on purpose (PCA). */
  dimensions: number | null;
  pcaSample: number;
  pcaSeed: number;
  refit: boolean;
}

/** --reduce, --dimensions, --pca-sample: read alike by migrate and reembed (only migrate can --refit-pca). */
export function reductionConfig(flags: { reduce?: string; dimensions?: string; pcaSample?: string }): Omit<ReductionConfig, 'refit'> {
  return {
    mode: oneOf(flags.reduce, '--reduce', ['auto', 'pca', 'truncate', 'halfvec', 'none'] as const, 'auto'),
    dimensions: flags.dimensions === undefined ? null : positiveInt(flags.dimensions, '--dimensions', 0, 16000),
    pcaSample: positiveInt(flags.pcaSample, '--pca-sample', DEFAULTS.pcaSample, 1_000_000),
    pcaSeed: DEFAULTS.pcaSeed,
  };
}
