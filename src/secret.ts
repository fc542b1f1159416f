import { inspect } from 'node:util';

/**
 * Holds a secret (master key, database password) so that it cannot leak by accident:
 * JSON.stringify, util.inspect, template strings and console.log all print a placeholder.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

/** Removes the password from a connection URL, for messages and reports. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    // Not a URL we can parse: hide anything between '//' and '@' rather than risk printing it.
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}
