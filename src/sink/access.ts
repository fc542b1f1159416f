/**
 * What every repository does around its queries, written once: refuse writes on a read-only
 * database, and turn whatever a driver throws into a MigrateError carrying the operation's context
 * (and no secret).
 */
import { MigrateError, type ErrorCode } from '../errors.js';
import type { Driver } from './driver.js';
import { toSinkError } from './failures.js';
import type { ResolvedTable } from './identifiers.js';
import { relationExists } from './schema.js';

/** Runs `fn`, turning driver errors into coded ones with `context`. */
export type Guard = <T>(code: ErrorCode, context: string, fn: () => Promise<T>) => Promise<T>;

export class SinkAccess {
  constructor(readonly db: Driver) {}

  /** E_USAGE when the database was opened read-only (dry run). */
  writable(action: string): void {
    if (this.db.readOnly) throw new MigrateError('E_USAGE', `the database at ${this.db.location} was opened read-only (dry run); cannot ${action}`);
  }

  readonly guard: Guard = async (code, context, fn) => {
    try {
      return await fn();
    } catch (error) {
      throw toSinkError(error, code, context, this.db.secrets, this.db);
    }
  };

  /** A read that answers `empty` when `relation` does not exist (reads never create anything). */
  readIfExists<T>(relation: ResolvedTable, empty: T, context: string, fn: () => Promise<T>): Promise<T> {
    return this.guard('E_LOAD', context, async () => ((await relationExists(this.db, relation)) ? fn() : empty));
  }
}

export function missingTable(table: ResolvedTable): MigrateError {
  return new MigrateError('E_SCHEMA', `table ${table.display} does not exist; create it first (ensureSchema)`);
}

/** The first row a statement must return; E_INTERNAL naming the file if it returned none. */
export function firstRow<R>(rows: R[], file: string): R {
  const row = rows[0];
  if (row === undefined) throw new MigrateError('E_INTERNAL', `${file} returned no row`);
  return row;
}
