/**
 * Entry point of the sink: picks the driver. A database URL means a PostgreSQL server (pg);
 * without one, the embedded PGlite database in `pgliteDir` is used.
 */
import { openPgliteSink } from './pgliteSink.js';
import { openPgSink } from './pgSink.js';
import type { Sink } from './sink.js';

export interface OpenSinkOptions {
  /** postgres://user:password@host:port/db; absent or empty: PGlite. */
  databaseUrl?: string | undefined;
  /** PGlite data directory (the caller's default: ./.pgvector-migrate/pglite). */
  pgliteDir: string;
  /**
   * Dry runs: nothing is written. pg sessions are read-only at the server; a missing PGlite
   * directory is not created (an in-memory PGlite answers instead).
   */
  readOnly?: boolean;
  /** PGlite: the command opening the directory, shown to a second process that finds it locked. */
  purpose?: string;
  /** PGlite: wait for the process holding the directory instead of failing with E_LOCKED. */
  wait?: boolean;
  /** PGlite: told once when the directory is held by another process and waiting begins. */
  onLockWait?: ((notice: string) => void) | undefined;
}

export async function openSink(options: OpenSinkOptions): Promise<Sink> {
  const readOnly = options.readOnly ?? false;
  if (options.databaseUrl !== undefined && options.databaseUrl !== '') {
    return openPgSink({ databaseUrl: options.databaseUrl, readOnly });
  }
  return openPgliteSink({ dataDir: options.pgliteDir, readOnly, ...(options.purpose === undefined ? {} : { purpose: options.purpose }), wait: options.wait ?? false, onLockWait: options.onLockWait });
}

export { redactUrl } from './redact.js';
export type { Sink } from './sink.js';
