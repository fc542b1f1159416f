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
