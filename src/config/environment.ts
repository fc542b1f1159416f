import { Secret } from '../secret.js';
import { nonEmpty } from './flagValues.js';

/** The only environment variables the tool reads; the CLI passes them in, no module reads process.env. */
export interface Environment {
  DATABASE_URL?: string | undefined;
  ENCRYPTION_MASTER_KEY?: string | undefined;
  /** Several candidate master keys, comma-separated (a comma cannot occur in a base64url key). */
  ENCRYPTION_MASTER_KEYS?: string | undefined;
  PGVECTOR_MIGRATE_MODEL?: string | undefined;
  PGVECTOR_MIGRATE_MODEL_CACHE?: string | undefined;
  PGVECTOR_MIGRATE_DTYPE?: string | undefined;
  /** A worker's --from-database: the source database of queued --from-table jobs outside the target. */
  PGVECTOR_MIGRATE_FROM_DATABASE?: string | undefined;
}

/**
 * The candidate master keys, in the order they are tried. Flags win over the environment as a
 * whole: any --master-key replaces both variables. From the environment, ENCRYPTION_MASTER_KEY
 * (the application's current key) comes first, then the ENCRYPTION_MASTER_KEYS entries. A key
 * given twice is tried once, at its first position.
 */
export function masterKeys(flags: { masterKey?: string | string[] }, env: Environment): Secret[] {
  const given = flags.masterKey === undefined ? [] : Array.isArray(flags.masterKey) ? flags.masterKey : [flags.masterKey];
  const fromFlags = given.filter((k) => nonEmpty(k) !== undefined);
  const fromEnv = [env.ENCRYPTION_MASTER_KEY, ...(env.ENCRYPTION_MASTER_KEYS ?? '').split(',').map((k) => k.trim())].filter(
    (k): k is string => nonEmpty(k) !== undefined,
  );
  return [...new Set(fromFlags.length > 0 ? fromFlags : fromEnv)].map((k) => new Secret(k));
}
