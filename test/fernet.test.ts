import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash, createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMigrateError } from '../src/errors.js';
import { fernetDecrypt, fernetEncrypt, openFernetFile } from '../src/source/fernet.js';
import { deriveUserKey, fernetKeyFromString, type FernetKey } from '../src/source/keys.js';
import { openDescriptors } from './helpers/fds.js';
import { FERNET_SPEC, SHARED_STORES } from './helpers/paths.js';

const SPEC = FERNET_SPEC;
const STORES = SHARED_STORES;
const USER_DATA = join(STORES, 'user_data');
const CASES = JSON.parse(readFileSync(join(STORES, 'CASES.json'), 'utf8')) as { master_key: string };
const MASTER = CASES.master_key;


function python(script: string, input: unknown): unknown {
  const run = spawnSync('python3', ['-c', script], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 256 << 20 });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

interface SpecCase {
  desc?: string;
  token: string;
  now: string;
  ttl_sec?: number;
  iv?: number[];
  src?: string;
  secret: string;
}

function spec(name: string): SpecCase[] {
  return JSON.parse(readFileSync(join(SPEC, `${name}.json`), 'utf8')) as SpecCase[];
}

const unix = (iso: string): number => Date.parse(iso) / 1000;

/** Every E_DECRYPT message seen, to check at the end that none leaks key material. */
const messages: string[] = [];

function decryptError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(isMigrateError(error) && error.code).toBe('E_DECRYPT');
    messages.push((error as Error).message);
    return (error as Error).message;
  }
  throw new Error('expected E_DECRYPT, got success');
}

async function decryptErrorAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (error) {
    expect(isMigrateError(error) && error.code).toBe('E_DECRYPT');
    messages.push((error as Error).message);
    return (error as Error).message;
  }
  throw new Error('expected E_DECRYPT, got success');
}

async function readAll(path: string, key: FernetKey, label?: string): Promise<{ data: Buffer; chunks: number }> {
  const stream = await openFernetFile(path, key, label === undefined ? {} : { label });
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return { data: Buffer.concat(parts), chunks: parts.length };
}

/** A token whose MAC is valid but whose last plaintext block is not PKCS7-padded. */
function badPaddingToken(key: FernetKey): string {
  const iv = Buffer.alloc(16, 7);
  const cipher = createCipheriv('aes-128-cbc', key.encryptionKey, iv).setAutoPadding(false);
  const body = Buffer.concat([Buffer.from([0x80]), Buffer.alloc(8), iv, cipher.update(Buffer.alloc(32, 0x41)), cipher.final()]);
  const mac = createHmac('sha256', key.signingKey).update(body).digest();
  return urlsafeB64(Buffer.concat([body, mac]));
}

/** Python's urlsafe_b64encode: like Node's base64url but keeping the '=' padding. */
function urlsafeB64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pvm-fernet-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('fernet spec vectors', () => {
  it('generate.json: encrypting with the given iv and time gives the token', () => {
    for (const c of spec('generate')) {
      const key = fernetKeyFromString(c.secret);
      const token = fernetEncrypt(Buffer.from(c.src ?? ''), key, { iv: Buffer.from(c.iv ?? []), timestamp: unix(c.now) });
      expect(token).toBe(c.token);
      expect(fernetDecrypt(token, key).toString()).toBe(c.src);
    }
  });

  it('verify.json: decrypts, with the TTL check on', () => {
    for (const c of spec('verify')) {
      const out = fernetDecrypt(c.token, fernetKeyFromString(c.secret), { ttlSec: c.ttl_sec ?? 60, now: unix(c.now) });
      expect(out.toString()).toBe(c.src);
    }
  });

  it('invalid.json: every case is E_DECRYPT with a message that says why', () => {
    const expected: Record<string, RegExp> = {
      'incorrect mac': /does not verify/,
      'too short': /too short/,
      'invalid base64': /not a valid Fernet token/,
      'payload size not multiple of block size': /too short|16-byte blocks/,
      'payload padding error': /padding is invalid/,
      'far-future TS (unacceptable clock skew)': /future/,
      'expired TTL': /expired/,
      'incorrect IV (causes padding error)': /padding is invalid/,
    };
    const cases = spec('invalid');
    expect(cases.map((c) => c.desc).sort()).toEqual(Object.keys(expected).sort());
    for (const c of cases) {
      const message = decryptError(() => fernetDecrypt(c.token, fernetKeyFromString(c.secret), { ttlSec: c.ttl_sec ?? 60, now: unix(c.now) }));
      expect(message).toMatch(expected[c.desc ?? ''] ?? /never/);
    }
  });

  it('without a TTL (the product) old and future-dated tokens still decrypt', () => {
    for (const c of spec('invalid').filter((x) => /TTL|far-future/.test(x.desc ?? ''))) {
      // Their plaintext is empty (as Python's Fernet(secret).decrypt(token) also returns b'').
      expect(fernetDecrypt(c.token, fernetKeyFromString(c.secret))).toEqual(Buffer.alloc(0));
    }
  });

  it('applies the TTL bounds exactly as cryptography does', () => {
    const key = fernetKeyFromString('cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=');
    const token = fernetEncrypt(Buffer.from('x'), key, { iv: Buffer.alloc(16), timestamp: 1000 });
    // expired iff timestamp + ttl < now
    expect(fernetDecrypt(token, key, { ttlSec: 10, now: 1010 }).toString()).toBe('x');
    expect(decryptError(() => fernetDecrypt(token, key, { ttlSec: 10, now: 1011 }))).toMatch(/expired/);
    // too far in the future iff now + 60 < timestamp
    expect(fernetDecrypt(token, key, { ttlSec: 10, now: 940 }).toString()).toBe('x');
    expect(decryptError(() => fernetDecrypt(token, key, { ttlSec: 10, now: 939 }))).toMatch(/future/);
  });
});

describe('fernetDecrypt leniency matches Python', () => {
  const c = spec('verify')[0] as SpecCase;
  const key = fernetKeyFromString(c.secret);

  it('ignores whitespace, newlines and junk inside the token, and text after the padding', () => {
    const spaced = c.token.replace(/(.{10})/g, '$1\n ');
    expect(fernetDecrypt(spaced, key).toString()).toBe('hello');
    expect(fernetDecrypt(`${c.token}\n`, key).toString()).toBe('hello');
    expect(fernetDecrypt(`${c.token}trailing`, key).toString()).toBe('hello');
    expect(fernetDecrypt(Buffer.from(`${c.token}\r\n`), key).toString()).toBe('hello');
  });

  it('refuses a non-ASCII string token (Python raises ValueError), and a bad version byte', () => {
    expect(decryptError(() => fernetDecrypt(`${c.token}é`, key))).toMatch(/non-ASCII/);
    const wrongVersion = Buffer.from(c.token, 'base64url');
    wrongVersion[0] = 0x81;
    expect(decryptError(() => fernetDecrypt(urlsafeB64(wrongVersion), key))).toMatch(/version byte is 0x81/);
    expect(decryptError(() => fernetDecrypt('', key))).toMatch(/no bytes/);
  });

  it('reports bad padding under a valid signature distinctly', () => {
    expect(decryptError(() => fernetDecrypt(badPaddingToken(key), key))).toMatch(/signature verifies .* padding is invalid/);
  });

  it('accepts and rejects exactly what Python accepts, on 300 mutated tokens (buffer and file API)', async () => {
    const base = c.token;
    let seed = 12345;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const junk = ['=', '==', '\n', ' ', '!', 'A', '-', '_', '+', '/', '%'];
    const tokens: string[] = [base];
    for (let i = 0; i < 300; i++) {
      const p = next(base.length + 1);
      switch (i % 6) {
        case 0:
          tokens.push(base.slice(0, p));
          break;
        case 1:
          tokens.push(base.slice(0, p) + (junk[next(junk.length)] ?? '') + base.slice(p));
          break;
        case 2:
          tokens.push(base.slice(0, p) + base.slice(p + 1));
          break;
        case 3:
          tokens.push(base.slice(0, p) + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charAt(next(64)) + base.slice(p + 1));
          break;
        case 4:
          tokens.push(base.replace(/=+$/, '').slice(0, base.length - next(5)) + '='.repeat(next(4)));
          break;
        default:
          tokens.push(base.slice(0, p) + '==' + base.slice(p));
          break;
      }
    }
    const script = `
import json, sys
from cryptography.fernet import Fernet, InvalidToken
secret, tokens = json.load(sys.stdin)
f = Fernet(secret)
out = []
for t in tokens:
    try: out.append(f.decrypt(t).hex())
    except (InvalidToken, ValueError): out.append(None)
print(json.dumps(out))`;
    const expected = python(script, [c.secret, tokens]) as (string | null)[];
    const viaBuffer = tokens.map((t) => {
      try {
        return fernetDecrypt(t, key).toString('hex');
      } catch (error) {
        expect(isMigrateError(error) && error.code).toBe('E_DECRYPT');
        return null;
      }
    });
    expect(viaBuffer).toEqual(expected);
    const viaFile: (string | null)[] = [];
    for (const [i, t] of tokens.entries()) {
      const path = join(tmp, `mutated-${i}`);
      writeFileSync(path, t);
      try {
        viaFile.push((await readAll(path, key)).data.toString('hex'));
      } catch (error) {
        expect(isMigrateError(error) && error.code).toBe('E_DECRYPT');
        viaFile.push(null);
      }
    }
    expect(viaFile).toEqual(expected);
    expect(expected.filter((e) => e !== null).length).toBeGreaterThan(10);
    expect(expected.filter((e) => e === null).length).toBeGreaterThan(10);
  });
});

describe('openFernetFile on the Python-written stores', () => {
  const file = (user: string, collection = 'personal_assistant'): string => join(USER_DATA, user, `vector_store_${collection}`, 'metadata.json');

  it('decrypts alice, bob and carol to the same bytes as the buffer API, as JSON arrays', async () => {
    for (const user of ['alice_example_com', 'bob', 'carol_corp']) {
      const key = await deriveUserKey(user, MASTER);
      const { data } = await readAll(file(user), key);
      expect(data.equals(fernetDecrypt(readFileSync(file(user)), key))).toBe(true);
      expect(Array.isArray(JSON.parse(data.toString('utf8')))).toBe(true);
    }
  });

  it("refuses erin's truncated token as truncated, before producing any plaintext", async () => {
    const key = await deriveUserKey('erin', MASTER);
    const message = await decryptErrorAsync(() => openFernetFile(file('erin'), key, { label: 'metadata.json of erin/personal_assistant' }));
    expect(message).toMatch(/^metadata\.json of erin\/personal_assistant is not a valid Fernet token: .*truncated/);
    expect(decryptError(() => fernetDecrypt(readFileSync(file('erin')), key))).toMatch(/truncated/);
  });

  it('refuses a wrong master key, a wrong user id and a missing master key with the reason', async () => {
    const label = 'metadata.json of alice_example_com/personal_assistant';
    const wrongMaster = await decryptErrorAsync(async () => openFernetFile(file('alice_example_com'), await deriveUserKey('alice_example_com', 'not-the-key'), { label }));
    expect(wrongMaster).toBe(
      `${label} is a Fernet token that does not verify under the key derived for user alice_example_com (with the configured master key): ` +
        'wrong master key, wrong user id, or a corrupted/truncated file',
    );
    const wrongUser = await decryptErrorAsync(async () => openFernetFile(file('alice_example_com'), await deriveUserKey('bob', MASTER), { label }));
    expect(wrongUser).toMatch(/does not verify under the key derived for user bob/);
    const noMaster = await decryptErrorAsync(async () => openFernetFile(file('alice_example_com'), await deriveUserKey('alice_example_com', undefined), { label }));
    expect(noMaster).toMatch(/without a master key.*encrypted with a master key/);
  });

  it('refuses a plain JSON file as a malformed token', async () => {
    const key = await deriveUserKey('alice_example_com', MASTER);
    expect(await decryptErrorAsync(() => openFernetFile(file('alice_example_com', 'notes'), key))).toMatch(/version byte is 0x/);
  });

  it('fails the stream at its end on bad padding under a valid signature', async () => {
    const key = await deriveUserKey('u', MASTER);
    const path = join(tmp, 'bad-padding');
    writeFileSync(path, badPaddingToken(key));
    expect(await decryptErrorAsync(() => readAll(path, key))).toMatch(/padding is invalid/);
  });

  it('fails the stream if the file is rewritten between verification and decryption', async () => {
    const key = await deriveUserKey('u', MASTER);
    const path = join(tmp, 'changing');
    const first = fernetEncrypt(Buffer.from('[{"text": "first"}]'), key, { iv: Buffer.alloc(16, 1), timestamp: 1 });
    const second = fernetEncrypt(Buffer.from('[{"text": "other"}]'), key, { iv: Buffer.alloc(16, 1), timestamp: 1 });
    expect(second.length).toBe(first.length);
    writeFileSync(path, first);
    const stream = await openFernetFile(path, key);
    writeFileSync(path, second); // same inode, rewritten in place: the open descriptor sees it
    const message = await decryptErrorAsync(async () => {
      for await (const _ of stream) void _;
    });
    expect(message).toMatch(/changed while it was being read/);
  });

  it('closes the file when the consumer stops early', async () => {
    const key = await deriveUserKey('u', MASTER);
    const path = join(tmp, 'early');
    writeFileSync(path, fernetEncrypt(Buffer.alloc(4 << 20, 0x20), key, { iv: Buffer.alloc(16), timestamp: 1 }));
    const before = openDescriptors();
    for (let i = 0; i < 5; i++) {
      const stream = await openFernetFile(path, key);
      for await (const _ of stream) {
        void _;
        break;
      }
    }
    // Destroyed before the first read: the decrypting generator never starts, the file must still close.
    for (let i = 0; i < 5; i++) (await openFernetFile(path, key)).destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(openDescriptors()).toBeLessThanOrEqual(before);
  });

  it('never puts key material or the master key in a message', async () => {
    const keys = await Promise.all(['alice_example_com', 'erin', 'u', 'bob'].map((u) => deriveUserKey(u, MASTER)));
    const secrets = [MASTER, MASTER.slice(0, 12), ...keys.flatMap((k) => [k.signingKey.toString('hex').slice(0, 12), k.encryptionKey.toString('hex').slice(0, 12), k.signingKey.toString('base64url').slice(0, 12)])];
    expect(messages.length).toBeGreaterThan(10);
    for (const m of messages) for (const s of secrets) expect(m).not.toContain(s);
  });
});


describe('streaming a large token written by Python', () => {
  it('gives the same bytes as Python for a 24 MB plaintext, in many chunks', async () => {
    const path = join(tmp, 'large.token');
    const script = `
import hashlib, json, sys, base64, random
from cryptography.fernet import Fernet
secret, path = json.load(sys.stdin)
rng = random.Random(7)
plain = bytes(rng.getrandbits(8) for _ in range(1 << 16)) * 384 + b"tail"
token = Fernet(secret).encrypt(plain)
open(path, "wb").write(token + b"\\n")
print(json.dumps({"sha256": hashlib.sha256(plain).hexdigest(), "length": len(plain)}))`;
    const key = await deriveUserKey('big_user', MASTER);
    const secret = urlsafeB64(Buffer.concat([key.signingKey, key.encryptionKey]));
    const expected = python(script, [secret, path]) as { sha256: string; length: number };
    const stream = await openFernetFile(path, key);
    const hash = createHash('sha256');
    let length = 0;
    let chunks = 0;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      length += (chunk as Buffer).length;
      chunks++;
    }
    expect({ sha256: hash.digest('hex'), length }).toEqual(expected);
    expect(chunks).toBeGreaterThan(10);
  });
});
