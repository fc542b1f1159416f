/**
 * `--owner-in-metadata`: clients whose filters see only `metadata` (LangChain.js PGVectorStore
 * filters on `metadata->>'user_id'`) can isolate users only if the owner is in there too. The
 * columns stay the truth: the keys are written from the store's own user and collection, and a
 * source value that says otherwise is moved aside, never left to name the wrong owner (a filter
 * by user would then return another user's rows).
 */
import { MigrateError } from '../errors.js';
import { storeLabel } from '../storeLabel.js';

export interface Owner {
  userId: string;
  collection: string;
}

/** A metadata key the source used with another value than the owner's, moved to `movedTo`. */
export interface OwnerConflict {
  key: string;
  value: unknown;
  movedTo: string;
}

const KEYS = [
  ['user_id', 'userId'],
  ['collection_name', 'collection'],
] as const;

/**
 * `metadata` with `user_id` and `collection_name` of `owner`. A different source value under one
 * of those keys is kept under `source_<key>`; E_METADATA when that key is taken too, by another
 * value (the entry's own data would otherwise be lost).
 */
export function withOwner(metadata: Record<string, unknown>, owner: Owner, index: number): { metadata: Record<string, unknown>; conflicts: OwnerConflict[] } {
  // Spread defines own properties, so keys such as `__proto__` are copied as data.
  const out: Record<string, unknown> = { ...metadata };
  const conflicts: OwnerConflict[] = [];
  for (const [key, field] of KEYS) {
    const value = owner[field];
    const has = Object.prototype.hasOwnProperty.call(out, key);
    if (has && out[key] !== value) {
      const movedTo = `source_${key}`;
      if (Object.prototype.hasOwnProperty.call(out, movedTo) && JSON.stringify(out[movedTo]) !== JSON.stringify(out[key])) {
        throw new MigrateError(
          'E_METADATA',
          `entry ${index} of ${storeLabel(owner)}: --owner-in-metadata writes ${key} ${JSON.stringify(value)}, but the metadata already has ${key} ${JSON.stringify(out[key])} and ${movedTo} ${JSON.stringify(out[movedTo])}; rename one of them in the source or migrate without --owner-in-metadata`,
        );
      }
      out[movedTo] = out[key];
      conflicts.push({ key, value: out[key], movedTo });
    }
    out[key] = value;
  }
  return { metadata: out, conflicts };
}
