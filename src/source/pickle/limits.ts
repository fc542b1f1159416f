import { MigrateError } from '../../errors.js';

/**
 * Bounds on what a pickle may make the decoder hold. Python's pickler never comes near them for a
 * vector store; a hostile or corrupt file reaches one and fails with E_PICKLE instead of exhausting
 * memory. Together with streaming (the top-level list is never built) they keep the decoder's
 * memory independent of the file's size.
 */
export interface PickleLimits {
  /**
   * Values plus open MARKs on the VM stack. pickle.dump appends in batches of 1000, so a list of
   * vectors needs about 2 x 1000 + 4 (a batch of vectors, plus a batch of one vector's floats).
   */
  maxStackDepth: number;
  /**
   * Memo slots the decoder keeps (slots some later GET reads) and out-of-order slot numbers it
   * tracks. Python's pickler memoizes every list, but only shared objects are read back.
   */
  maxMemoEntries: number;
  /** Values in one vector; also the size cap of every container other than the top-level list. */
  maxDimensions: number;
  /** Containers inside containers (a vector pickle nests 3 deep at most). */
  maxNesting: number;
  /**
   * str/bytes arguments up to this size are read into memory; longer ones stay in the file as an
   * (offset, length) and may only be a 2-D array's raw data, streamed row by row.
   */
  maxInlineBytes: number;
  /** Bytes of a Fortran-order matrix gathered per pass when it is streamed from the file. */
  maxMatrixBlockBytes: number;
  /**
   * Approximate bytes of decoded values held at once (stack and memo, weighed every MiB of
   * input). A batch of 1000 vectors of 3072 floats weighs about 25 MB; this bounds what a
   * hostile file can make the decoder hold, whatever the file's size.
   */
  maxHeldBytes: number;
}

export const DEFAULT_PICKLE_LIMITS: Readonly<PickleLimits> = Object.freeze({
  maxStackDepth: 10_000,
  maxMemoEntries: 100_000,
  maxDimensions: 65_536,
  maxNesting: 16,
  // 65536 float64 values written as protocol 2 latin-1 text take at most 2 x 8 x 65536 bytes.
  maxInlineBytes: 1 << 20,
  maxMatrixBlockBytes: 16 << 20,
  maxHeldBytes: 512 << 20,
});

export function resolveLimits(overrides: Partial<PickleLimits> | undefined): PickleLimits {
  const limits: PickleLimits = { ...DEFAULT_PICKLE_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new MigrateError('E_CONFIG', `pickle limit ${name} must be a positive integer, got ${String(value)}`);
    }
  }
  return limits;
}
