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
export function toSinkError(error: unknown, code: ErrorCode, context: string, secrets: readonly string[]): MigrateError {
  if (error instanceof MigrateError) {
    const message = redactSecrets(error.message, secrets);
    return message === error.message ? error : new MigrateError(error.code, message, { cause: error.cause });
  }
  const fields = errorFields(error);
  const finalCode = isConnectionFailure(fields) ? 'E_CONNECT' : code;
  const detail = fields.detail ? ` (${fields.detail})` : '';
  const message = redactSecrets(`${context}: ${fields.message}${detail}`, secrets);
  // The cause is kept for debugging but not exposed in toJSON(); it carries no password either
  // (pg never puts the password in its errors; the URL is not part of them).
  return new MigrateError(finalCode, message, { cause: error });
}

interface ErrorFields {
  message: string;
  detail: string | undefined;
  code: string | undefined;
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
  return { message: String(error), detail: undefined, code: undefined };
}

function isConnectionFailure(fields: ErrorFields): boolean {
  if (fields.code === undefined) return false;
  return CONNECTION_ERRNO.has(fields.code) || CONNECTION_SQLSTATE.test(fields.code);
}
