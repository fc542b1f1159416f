/** Turns whatever a driver throws into a MigrateError whose message is safe to print. */
import { MigrateError, type ErrorCode } from '../errors.js';
import { redactSecrets } from './redact.js';

/**
 * SQLSTATE classes and Node socket errors that mean "the server is gone or unreachable",
 * whatever operation was running: those are reported as E_CONNECT rather than as a failed load.
 */
const CONNECTION_SQLSTATE = /^(08|57P0[1-3]|53300)/;
const CONNECTION_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/**
 * MigrateErrors pass through (their message is redacted again, cheaply); anything else becomes
 * `code` (or E_CONNECT for connection failures) with `context: message (detail)`.
 */
export function toSinkError(error: unknown, code: ErrorCode, context: string, secrets: readonly string[], where?: DataLocation): MigrateError {
  if (error instanceof MigrateError) {
    const message = redactSecrets(error.message, secrets);
    return message === error.message ? error : new MigrateError(error.code, message, { cause: error.cause });
  }
  const fields = errorFields(error);
  const finalCode = isDiskFull(fields) ? 'E_DISK_FULL' : isConnectionFailure(fields) ? 'E_CONNECT' : code;
  const detail = fields.detail ? ` (${fields.detail})` : '';
  const message = redactSecrets(`${context}: ${fields.message}${detail}${rlsHint(fields)}${lostHint(code, finalCode)}${diskFullHint(finalCode, where)}`, secrets);
  // The cause is kept for debugging but not exposed in toJSON(); it carries no password either
  // (pg never puts the password in its errors; the URL is not part of them).
  return new MigrateError(finalCode, message, { cause: error });
}

interface ErrorFields {
  message: string;
  detail: string | undefined;
  code: string | undefined;
}

/** Where a driver keeps its data, to say which disk is full. */
export interface DataLocation {
  name: 'pg' | 'pglite';
  location: string;
}

function errorFields(error: unknown): ErrorFields {
  if (error instanceof Error) {
    const record = error as Error & { detail?: unknown; code?: unknown; errors?: unknown };
    let message = error.message;
    // AggregateError (e.g. a host resolving to both IPv4 and IPv6, both refused) has an empty message.
    if (message === '' && Array.isArray(record.errors)) {
      message = record.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ');
    }
    return {
      message: message || error.name,
      detail: typeof record.detail === 'string' && record.detail !== '' ? record.detail : undefined,
      code: typeof record.code === 'string' ? record.code : undefined,
    };
  }
  return plainObjectFields(error);
}

/**
 * Things thrown that are not Errors: PGlite's file system throws Emscripten's ErrnoError, a plain
 * object `{ name: 'ErrnoError', errno }` whose String() is "[object Object]".
 */
function plainObjectFields(error: unknown): ErrorFields {
  if (typeof error !== 'object' || error === null) return { message: String(error), detail: undefined, code: undefined };
  const record = error as { name?: unknown; message?: unknown; errno?: unknown; code?: unknown };
  const name = typeof record.name === 'string' ? record.name : 'error';
  if (name === 'ErrnoError' && typeof record.errno === 'number') {
    const known = EMSCRIPTEN_ERRNO.get(record.errno);
    return { message: `${known?.text ?? 'file system error'} (PGlite file system: ${name}, errno ${record.errno}${known === undefined ? '' : `, ${known.code}`})`, detail: undefined, code: known?.code };
  }
  const text = typeof record.message === 'string' && record.message !== '' ? record.message : safeJson(error);
  return { message: `${name}: ${text}`, detail: undefined, code: typeof record.code === 'string' ? record.code : undefined };
}

/** Emscripten's own errno numbers (not the host's) for the failures a PGlite directory meets. */
const EMSCRIPTEN_ERRNO: ReadonlyMap<number, { code: string; text: string }> = new Map([
  [2, { code: 'EACCES', text: 'permission denied' }],
  [29, { code: 'EIO', text: 'input/output error' }],
  [44, { code: 'ENOENT', text: 'no such file or directory' }],
  [51, { code: 'ENOSPC', text: 'no space left on device' }],
  [63, { code: 'EPERM', text: 'operation not permitted' }],
  [69, { code: 'EROFS', text: 'read-only file system' }],
]);

function safeJson(value: object): string {
  try {
    return JSON.stringify(value) ?? Object.prototype.toString.call(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** ENOSPC from Node or PGlite's file system, or PostgreSQL's disk_full (53100). */
function isDiskFull(fields: ErrorFields): boolean {
  return fields.code === 'ENOSPC' || fields.code === '53100' || /No space left on device/i.test(fields.message);
}

function diskFullHint(finalCode: ErrorCode, where: DataLocation | undefined): string {
  if (finalCode !== 'E_DISK_FULL') return '';
  const disk = where === undefined ? 'the database' : where.name === 'pg' ? `the database server at ${where.location} (its data directory or WAL)` : `the PGlite directory ${where.location}`;
  return `; the disk of ${disk} is full: nothing of this step was committed; free space there (or use a --pglite-dir on a larger disk), then re-run (stores loaded before stay loaded)`;
}

function isConnectionFailure(fields: ErrorFields): boolean {
  // pg reports a socket that closed without an error message this way, with no code.
  if (fields.code === undefined) return /^Connection terminated/.test(fields.message);
  return CONNECTION_ERRNO.has(fields.code) || CONNECTION_SQLSTATE.test(fields.code);
}

/**
 * A connection lost in the middle of an operation (not while opening one): the server restarted,
 * went down or ended the session. The operation's transaction never committed, so re-running is
 * safe and is what the user has to do.
 */
function lostHint(code: ErrorCode, finalCode: ErrorCode): string {
  if (finalCode !== 'E_CONNECT' || code === 'E_CONNECT') return '';
  return `; the connection to the database server was lost (the server restarted or went down, or the session was terminated): nothing of this step was committed; re-run once the server is back (stores loaded before stay loaded, unchanged ones are skipped)`;
}

/**
 * 42501 from a row-level security policy: the tool's role does not bypass RLS (the sessions run
 * with row_security = off, so this is an error rather than rows silently missing).
 */
function rlsHint(fields: ErrorFields): string {
  if (fields.code !== '42501' || !/row-level security/i.test(fields.message)) return '';
  return '; this tool must connect as a role that bypasses row-level security on the table (a superuser, or ALTER ROLE <role> BYPASSRLS), never as the application role: see README, "Row-level security"';
}
