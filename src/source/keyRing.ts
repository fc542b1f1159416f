/**
 * Choosing a store's key among several candidates (key rotation): the application derived each
 * user's key from whatever master key was configured when the store was written, and stores
 * written before any master key was set use the default per-user key.
 *
 * A store is opened with the first candidate whose HMAC verifies over its metadata.json. Only the
 * signature is checked per candidate (one pass over the file, nothing decrypted); PBKDF2 (100000
 * rounds) runs lazily, only for candidates actually tried, once per (user, candidate).
 * Candidates are named by position ("master#2", "default"), never by their value.
 */
import { MigrateError, isMigrateError } from '../errors.js';
import type { Secret } from '../secret.js';
import { fernetFileVerifies } from './fernet.js';
import { deriveUserKey, type FernetKey } from './keys.js';
import { detectMetadataEncoding, metadataLabel } from './metadata.js';
import type { StoreLocation } from './types.js';

export interface KeyCandidate {
  /** "master#1", "master#2", ... or "default": safe to print and to record. */
  label: string;
  /** null: the application's default per-user key. */
  masterKey: Secret | null;
}

/**
 * The candidates in the order they are tried: the master keys as given, then the default key
 * when asked for, or when no master key is configured (the application's own behaviour then).
 */
export function keyCandidates(masterKeys: readonly Secret[], tryDefaultKey: boolean): KeyCandidate[] {
  const candidates: KeyCandidate[] = masterKeys.map((masterKey, i) => ({ label: `master#${i + 1}`, masterKey }));
  if (tryDefaultKey || masterKeys.length === 0) candidates.push({ label: 'default', masterKey: null });
  return candidates;
}

export interface ChosenKey {
  key: FernetKey;
  /** The candidate that verified; null when metadata.json is not a Fernet token (no key was needed). */
  label: string | null;
}

/** One per run: caches derived keys per (user, candidate), as users often have several stores. */
export class KeyRing {
  readonly #candidates: readonly KeyCandidate[];
  readonly #derived = new Map<string, Promise<FernetKey>>();
  readonly #deriveKey: typeof deriveUserKey;

  /** `derive` is the key derivation; a caller may wrap it, e.g. to count derivations. */
  constructor(candidates: readonly KeyCandidate[], derive: typeof deriveUserKey = deriveUserKey) {
    if (candidates.length === 0) throw new MigrateError('E_INTERNAL', 'a key ring needs at least one candidate key');
    this.#candidates = candidates;
    this.#deriveKey = derive;
  }

  get size(): number {
    return this.#candidates.length;
  }

  #derive(userId: string, index: number): Promise<FernetKey> {
    const id = `${index}\u0000${userId}`;
    let key = this.#derived.get(id);
    if (key === undefined) {
      const candidate = this.#candidates[index] as KeyCandidate;
      // Positions in messages only when there is more than one key to tell apart.
      const position = this.#candidates.length > 1 && candidate.masterKey !== null ? index + 1 : undefined;
      key = this.#deriveKey(userId, candidate.masterKey?.reveal(), position);
      this.#derived.set(id, key);
    }
    return key;
  }

  /**
   * The key to open `store` with. With one candidate it is returned unchecked: opening the file
   * reports a wrong key with the most specific message. With several, throws E_DECRYPT naming
   * how many were tried when none verifies; a file that is no valid token at all fails as it
   * would with any key. Files that cannot be sniffed are left to the reader to report.
   */
  async forStore(store: StoreLocation): Promise<ChosenKey> {
    const path = store.metadataPath;
    const label = metadataLabel({ userId: store.userId, collection: store.collection });
    const encoding = path === null ? null : await detectMetadataEncoding(path, label).catch(() => null);
    if (path === null || encoding !== 'fernet') return { key: await this.#derive(store.userId, 0), label: null };
    if (this.#candidates.length === 1) return { key: await this.#derive(store.userId, 0), label: this.#candidates[0]?.label ?? null };
    for (const [i, candidate] of this.#candidates.entries()) {
      const key = await this.#derive(store.userId, i);
      let verifies: boolean;
      try {
        verifies = await fernetFileVerifies(path, key, { label });
      } catch (error) {
        if (isMigrateError(error)) throw error;
        throw new MigrateError('E_METADATA', `${label} cannot be read: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      if (verifies) return { key, label: candidate.label };
    }
    throw this.#noneVerifies(label, store.userId);
  }

  #noneVerifies(label: string, userId: string): MigrateError {
    const tried = this.#candidates.map((c) => c.label);
    const hasDefault = tried.includes('default');
    return new MigrateError(
      'E_DECRYPT',
      `${label} is a Fernet token that does not verify under any of the ${tried.length} candidate keys tried for user ${userId} (${tried.join(', ')}): ` +
        `the master key it was written with is not among them${hasDefault ? '' : ' (a store written before any master key was set needs --try-default-key)'}, the user id is wrong, or the file is corrupted/truncated`,
    );
  }
}
