import path from 'node:path';
import type { Pool } from 'pg';
import { MigrateError } from '../errors.js';
import { Secret } from '../secret.js';
import { DEFAULTS } from './defaults.js';
import type { Environment } from './environment.js';
import { nonEmpty } from './flagValues.js';

export interface DatabaseConfig {
  /** A PostgreSQL URL (secret: it may hold a password), or null for the embedded PGlite database. */
  url: Secret | null;
  /** The library caller's pg.Pool, used instead of `url` (set by the caller, never from flags). */
  pool?: Pool;
  pgliteDir: string;
  /** --wait: wait for another process holding the PGlite directory instead of failing with E_LOCKED. */
  waitForLock: boolean;
  /** Where to say that waiting began (the CLI: stderr); set by the caller, never from flags. */
  onLockWait?: (notice: string) => void;
}

export function databaseConfig(flags: { databaseUrl?: string; pgliteDir?: string; wait?: boolean }, env: Environment, cwd: string): DatabaseConfig {
  const url = nonEmpty(flags.databaseUrl) ?? nonEmpty(env.DATABASE_URL);
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) {
    throw new MigrateError('E_USAGE', 'the database URL must start with postgres:// or postgresql://');
  }
  return {
    url: url === undefined ? null : new Secret(url),
    pgliteDir: path.resolve(cwd, flags.pgliteDir ?? DEFAULTS.pgliteDir),
    // --wait alone; migrate's and reembed's --no-wait (store and table locks) leave it off.
    waitForLock: flags.wait === true,
  };
}
