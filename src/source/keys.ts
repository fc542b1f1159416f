/**
 * Per-user Fernet keys, derived exactly as the source application did (FORMAT.md, "Per-user key").
 *
 * Key material never leaves this object in printable form: `toJSON`, `toString` and Node's
 * inspect all print only where the key came from, so a key that ends up in a log line, an error
 * `cause` or a test diff shows `FernetKey(user erin, master key)` and nothing secret.
 */
import { createHash, pbkdf2 } from 'node:crypto';
import { inspect, promisify } from 'node:util';
import { MigrateError } from '../errors.js';
import { Base64DecodeError, pythonUrlsafeB64decode } from './base64url.js';

const pbkdf2Async = promisify(pbkdf2);

export const PBKDF2_ITERATIONS = 100_000;

/** Where a key came from: safe to print, and what error messages use to say which key failed. */
export type KeyOrigin =
  /** `position`: which of several candidate master keys (1-based), when more than one was given. */
  | { kind: 'master-key'; userId: string; position?: number }
  | { kind: 'default-key'; userId: string }
  | { kind: 'explicit' };

export class FernetKey {
  // True private fields: not enumerable, not serialized, not shown by util.inspect.
  readonly #signingKey: Buffer;
  readonly #encryptionKey: Buffer;
  readonly origin: KeyOrigin;

  /** `material` is the 32 raw key bytes: signing key (first 16) then encryption key (last 16). */
  constructor(material: Uint8Array, origin: KeyOrigin) {
    if (material.length !== 32) {
      throw new MigrateError('E_INTERNAL', `a Fernet key is 32 bytes, got ${material.length}`);
    }
    // Copies, so the caller may wipe its buffer without breaking the key.
    this.#signingKey = Buffer.from(material.subarray(0, 16));
    this.#encryptionKey = Buffer.from(material.subarray(16, 32));
    this.origin = origin;
  }

  get signingKey(): Buffer {
    return this.#signingKey;
  }

  get encryptionKey(): Buffer {
    return this.#encryptionKey;
  }

  /** "the key derived for user erin (with the configured master key)" - for error messages. */
  describe(): string {
    switch (this.origin.kind) {
      case 'master-key':
        return this.origin.position === undefined
          ? `the key derived for user ${this.origin.userId} (with the configured master key)`
          : `the key derived for user ${this.origin.userId} (with master key #${this.origin.position})`;
      case 'default-key':
        return `the key derived for user ${this.origin.userId} (without a master key, i.e. the application's default per-user key)`;
      default:
        return 'the given key';
    }
  }

  toString(): string {
    switch (this.origin.kind) {
      case 'master-key':
        return `FernetKey(user ${this.origin.userId}, master key${this.origin.position === undefined ? '' : ` #${this.origin.position}`})`;
      case 'default-key':
        return `FernetKey(user ${this.origin.userId}, default key)`;
      default:
        return 'FernetKey(explicit)';
    }
  }

  toJSON(): string {
    return `${this.toString()} [redacted]`;
  }

  [inspect.custom](): string {
    return this.toJSON();
  }

  /** Overwrites the key bytes; the object is useless afterwards. */
  wipe(): void {
    this.#signingKey.fill(0);
    this.#encryptionKey.fill(0);
  }
}

/**
 * The password bytes PBKDF2 gets: `base64.urlsafe_b64decode(master_key)`, or the UTF-8 bytes of
 * the string when that raises. Python's decoder is lenient, so `mysecret` *decodes* (to 6 bytes):
 * this is the application's behaviour, reproduced on purpose.
 */
export function masterKeyBytes(masterKey: string): Buffer {
  try {
    return pythonUrlsafeB64decode(masterKey);
  } catch (error) {
    if (error instanceof Base64DecodeError) return Buffer.from(masterKey, 'utf8');
    throw error;
  }
}

/**
 * The Fernet key of one user. With a master key: PBKDF2-HMAC-SHA256(masterKeyBytes, utf8(userId),
 * 100000, 32). Without one (`undefined`): SHA-256(utf8("default_key_" + userId)).
 *
 * An empty master key string is a configured (empty) master key, not "no master key": deciding
 * what an empty environment variable means belongs to the configuration layer, which should map
 * it to `undefined` if that is what the application did.
 *
 * Async because 100000 PBKDF2 rounds take ~50 ms; the thread pool runs them.
 */
export async function deriveUserKey(userId: string, masterKey: string | undefined, position?: number): Promise<FernetKey> {
  if (masterKey === undefined) {
    const material = createHash('sha256').update(`default_key_${userId}`, 'utf8').digest();
    return new FernetKey(material, { kind: 'default-key', userId });
  }
  const password = masterKeyBytes(masterKey);
  const material = await pbkdf2Async(password, Buffer.from(userId, 'utf8'), PBKDF2_ITERATIONS, 32, 'sha256');
  password.fill(0);
  const key = new FernetKey(material, { kind: 'master-key', userId, ...(position === undefined ? {} : { position }) });
  material.fill(0);
  return key;
}

/**
 * A key given as a Fernet key string (`Fernet(key)` in Python: urlsafe base64 of 32 bytes).
 * Used by the spec vectors and by anyone holding an explicit key.
 */
export function fernetKeyFromString(encoded: string): FernetKey {
  let material: Buffer;
  try {
    material = pythonUrlsafeB64decode(encoded);
  } catch {
    throw new MigrateError('E_USAGE', 'a Fernet key must be 32 url-safe base64-encoded bytes (it does not decode)');
  }
  if (material.length !== 32) {
    throw new MigrateError('E_USAGE', `a Fernet key must be 32 url-safe base64-encoded bytes (it decodes to ${material.length})`);
  }
  const key = new FernetKey(material, { kind: 'explicit' });
  material.fill(0);
  return key;
}
