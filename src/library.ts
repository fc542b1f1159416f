import type { Pool } from 'pg';
import { migrateConfigOf, type MigrateOptions } from './migrateOptions.js';
import { migrate as migrateConfigured } from './run/migrate.js';
import { storeLabel } from './storeLabel.js';
import type { RunEvent, RunObserver } from './run/events.js';
import type { RunReport } from './run/report.js';

/** Where the library says what it does; silent unless the caller passes one (console fits). */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface MigrateCallOptions extends MigrateOptions {
  /** Stops the run after the current store; the ledger run ends 'interrupted' and the report says so. */
  signal?: AbortSignal;
  /** Every RunEvent, in order (see README "Library"). */
  onEvent?: RunObserver;
  logger?: Logger;
  /** A pg.Pool the caller owns, instead of `databaseUrl`: the run borrows its connections and never ends it. */
  pool?: Pool;
}

const SILENT: Logger = { info: () => {}, warn: () => {}, error: () => {} };

function log(logger: Logger, event: RunEvent): void {
  if (event.type === 'store-done') {
    const s = event.store;
    if (s.status === 'failed') logger.error(`${storeLabel(s)}: ${s.error?.code ?? 'E_INTERNAL'}: ${s.error?.message ?? ''}`);
    else logger.info(`${storeLabel(s)}: ${s.status}, ${s.rowsLoaded} rows loaded`);
  } else if (event.type === 'waiting' || event.type === 'waiting-table') {
    logger.info(event.reason);
  } else if (event.type === 'run-done') {
    for (const w of event.report.warnings) logger.warn(w);
  }
}

/**
 * Migrates the stores under `options.root` into the database, for batch jobs: opens the database
 * (and the model, to re-embed), runs, closes them. Bad options, an unreachable database and
 * run-wide refusals throw a MigrateError; a store's failure is in the report (exitCodeOf).
 */
export async function migrate(options: MigrateCallOptions): Promise<RunReport> {
  const logger = options.logger ?? SILENT;
  const config = migrateConfigOf(options, process.cwd(), new Date());
  const observe: RunObserver = (event) => {
    options.onEvent?.(event);
    log(logger, event);
  };
  return migrateConfigured({ ...config, database: { ...config.database, ...(options.pool === undefined ? {} : { pool: options.pool }), onLockWait: (notice) => logger.warn(notice) } }, observe, options.signal === undefined ? {} : { signal: options.signal });
}
