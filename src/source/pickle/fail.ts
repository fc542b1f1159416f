import { MigrateError } from '../../errors.js';

/** vectors.pkl is malformed, truncated, over a limit, or of a shape that holds no vectors. */
export function pickleError(message: string): MigrateError {
  return new MigrateError('E_PICKLE', `vectors.pkl ${message}`);
}

/** A vector is empty, ragged or non-finite; `index` is its position in the store. */
export function vectorError(index: number, message: string): MigrateError {
  return new MigrateError('E_VECTOR', `vectors.pkl: vector ${index} ${message}`);
}

const REFUSED = 'which a vector pickle never needs; refused without running anything';

/** The pickle asks for code outside the numpy allow-list. Nothing has been called at this point. */
export function unsafeGlobal(qualifiedName: string): MigrateError {
  return new MigrateError('E_UNSAFE_PICKLE', `vectors.pkl references the global ${qualifiedName}, ${REFUSED}`);
}

export function unsafeFeature(what: string): MigrateError {
  return new MigrateError('E_UNSAFE_PICKLE', `vectors.pkl uses ${what}, ${REFUSED}`);
}
