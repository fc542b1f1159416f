/**
 * Choosing among candidate keys (key rotation), on stores written by Python's cryptography.fernet
 * with the application's key derivation (scripts/write_stores.py).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../src/secret.js';
import { KeyRing, keyCandidates } from '../src/source/keyRing.js';
import { deriveUserKey } from '../src/source/keys.js';
import { readMetadataEntries } from '../src/source/metadata.js';
import type { StoreLocation } from '../src/source/types.js';
import { REPO } from './helpers/paths.js';

const K1 = 'W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE=';
const K2 = 'old,raw key #2'; // not base64: its UTF-8 bytes are the PBKDF2 password
const K3 = 'never-used-key';

let root = '';
const store = (user: string, collection: string): StoreLocation => {
  const dir = path.join(root, user, `vector_store_${collection}`);
  return { userId: user, collection, dir, vectorsPath: path.join(dir, 'vectors.pkl'), metadataPath: path.join(dir, 'metadata.json') };
};
const entries = (tag: string) => [0, 1, 2].map((i) => ({ id: `${tag}-${i}`, text: `${tag} text ${i}` }));

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'pvm-keyring-'));
  const stores = [
    { user: 'alice', collection: 'k1', master_key: K1, encrypt: true, entries: entries('alice k1') },
    { user: 'alice', collection: 'k2', master_key: K2, encrypt: true, entries: entries('alice k2') },
    { user: 'alice', collection: 'k2b', master_key: K2, encrypt: true, entries: entries('alice k2b') },
    { user: 'alice', collection: 'default', master_key: null, encrypt: true, entries: entries('alice default') },
    { user: 'alice', collection: 'plain', master_key: null, encrypt: false, entries: entries('alice plain') },
  ];
  execFileSync('python3', [path.join(REPO, 'scripts/write_stores.py')], { input: JSON.stringify({ root, stores }) });
});
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true });
});

/** A ring over the real derivation that records which candidates were derived. */
function countingRing(masterKeys: string[], tryDefault: boolean): { ring: KeyRing; derived: string[] } {
  const derived: string[] = [];
  const ring = new KeyRing(keyCandidates(masterKeys.map((k) => new Secret(k)), tryDefault), (user, masterKey, position) => {
    derived.push(masterKey === undefined ? `default:${user}` : `master#${position ?? 1}:${user}`);
    return deriveUserKey(user, masterKey, position);
  });
  return { ring, derived };
}

async function texts(s: StoreLocation, ring: KeyRing): Promise<string[]> {
  const { key } = await ring.forStore(s);
  const out: string[] = [];
  for await (const e of readMetadataEntries(s.metadataPath as string, key, s)) out.push(String(e['text']));
  return out;
}

describe('KeyRing', () => {
  it('names candidates by position, the default key last and only when asked for or when no master key is given', () => {
    expect(keyCandidates([new Secret('a'), new Secret('b')], true).map((c) => c.label)).toEqual(['master#1', 'master#2', 'default']);
    expect(keyCandidates([new Secret('a')], false).map((c) => c.label)).toEqual(['master#1']);
    expect(keyCandidates([], false).map((c) => c.label)).toEqual(['default']);
  });

  it('opens each store with the first candidate whose HMAC verifies, deriving lazily and once per (user, key)', async () => {
    const { ring, derived } = countingRing([K1, K2, K3], true);
    expect(await ring.forStore(store('alice', 'k1'))).toMatchObject({ label: 'master#1' });
    expect(derived).toEqual(['master#1:alice']);
    expect(await ring.forStore(store('alice', 'k2'))).toMatchObject({ label: 'master#2' });
    expect(await ring.forStore(store('alice', 'k2b'))).toMatchObject({ label: 'master#2' });
    expect(derived).toEqual(['master#1:alice', 'master#2:alice']);
    expect(await ring.forStore(store('alice', 'default'))).toMatchObject({ label: 'default' });
    expect(derived).toEqual(['master#1:alice', 'master#2:alice', 'master#3:alice', 'default:alice']);
    // Plain JSON needs no key and names none.
    expect(await ring.forStore(store('alice', 'plain'))).toMatchObject({ label: null });
    expect(await texts(store('alice', 'k2b'), ring)).toEqual(['alice k2b text 0', 'alice k2b text 1', 'alice k2b text 2']);
    expect(await texts(store('alice', 'default'), ring)).toEqual(['alice default text 0', 'alice default text 1', 'alice default text 2']);
  });

  it('the first verifying candidate wins whatever the order the keys are given in', async () => {
    const { ring } = countingRing([K2, K1], false);
    expect(await ring.forStore(store('alice', 'k1'))).toMatchObject({ label: 'master#2' });
    expect(await ring.forStore(store('alice', 'k2'))).toMatchObject({ label: 'master#1' });
  });

  it('fails with E_DECRYPT naming how many candidates were tried when none verifies, never with garbage', async () => {
    const { ring } = countingRing([K1, K3], false);
    const error = await ring.forStore(store('alice', 'default')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_DECRYPT' });
    expect((error as Error).message).toBe(
      'metadata.json of alice/default is a Fernet token that does not verify under any of the 2 candidate keys tried for user alice (master#1, master#2): ' +
        'the master key it was written with is not among them (a store written before any master key was set needs --try-default-key), the user id is wrong, or the file is corrupted/truncated',
    );
    expect((error as Error).message).not.toContain(K1);
    const withDefault = await countingRing([K3], true).ring.forStore(store('alice', 'k1')).catch((e: unknown) => e);
    expect((withDefault as Error).message).toMatch(/any of the 2 candidate keys tried for user alice \(master#1, default\): the master key it was written with is not among them, the user id/);
  });

  it('a truncated token fails as truncated, not as a key problem, whatever the candidates', async () => {
    const s = store('alice', 'k2b');
    const bytes = await readFile(s.metadataPath as string);
    await writeFile(s.metadataPath as string, bytes.subarray(0, bytes.length - 40));
    try {
      const error = await countingRing([K1, K2], true).ring.forStore(s).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'E_DECRYPT', message: expect.stringMatching(/truncated or corrupted \(not a key problem\)/) });
    } finally {
      await writeFile(s.metadataPath as string, bytes);
    }
  });

  it('with one candidate, a wrong key fails when the file is opened, with the single-key message', async () => {
    const { ring } = countingRing([K3], false);
    const s = store('alice', 'k1');
    const error = await texts(s, ring).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_DECRYPT', message: expect.stringMatching(/does not verify under the key derived for user alice \(with the configured master key\)/) });
  });
});
