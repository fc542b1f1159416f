import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { Base64DecodeError, PythonBase64Decoder, pythonUrlsafeB64decode } from '../src/source/base64url.js';
import { deriveUserKey, fernetKeyFromString, masterKeyBytes, type FernetKey } from '../src/source/keys.js';
import { isMigrateError } from '../src/errors.js';

const FIXTURES = new URL('../fixtures/source/', import.meta.url);


function python(script: string, input: unknown): unknown {
  const run = spawnSync('python3', ['-c', script], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** What the decoder did, in the same shape Python reports it. */
function outcome(input: string): { hex: string } | { error: true } {
  try {
    return { hex: pythonUrlsafeB64decode(input).toString('hex') };
  } catch (error) {
    expect(error).toBeInstanceOf(Base64DecodeError);
    return { error: true };
  }
}

describe('pythonUrlsafeB64decode', () => {
  it('matches the observed cases of FORMAT.md', () => {
    expect(pythonUrlsafeB64decode('W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE=')).toHaveLength(32);
    expect(pythonUrlsafeB64decode('mysecret').toString('hex')).toBe('9b2b1e72b7ad');
    expect(pythonUrlsafeB64decode('my secret!').toString('hex')).toBe('9b2b1e72b7ad');
    expect(pythonUrlsafeB64decode('ab==cd').toString('hex')).toBe('69');
    expect(pythonUrlsafeB64decode('YWJjZA==extra').toString('latin1')).toBe('abcd');
    for (const bad of ['abc', 'hello-world_key', 'a=bc']) expect(() => pythonUrlsafeB64decode(bad)).toThrow(Base64DecodeError);
  });

  it('reports the kind of failure', () => {
    const kind = (s: string): string | undefined => {
      try {
        pythonUrlsafeB64decode(s);
        return undefined;
      } catch (error) {
        return error instanceof Base64DecodeError ? error.kind : 'other';
      }
    };
    expect(kind('abc')).toBe('incorrect-padding');
    expect(kind('abcde')).toBe('invalid-length');
    expect(kind('clé')).toBe('non-ascii');
    // Bytes are not subject to the ASCII rule: bytes >= 0x80 are dropped like any junk.
    expect(pythonUrlsafeB64decode(Buffer.from([0x61, 0xff, 0x62, 0x3d, 0x3d])).toString('hex')).toBe('69');
  });

  it('accepts both alphabets, drops junk, stops at the first complete padding', () => {
    expect(pythonUrlsafeB64decode('ab+/').toString('hex')).toBe('69bfbf');
    expect(pythonUrlsafeB64decode('ab-_').toString('hex')).toBe('69bfbf');
    expect(pythonUrlsafeB64decode('=ab==').toString('hex')).toBe('69');
    expect(pythonUrlsafeB64decode('ab=c=').toString('hex')).toBe('69b7');
    expect(pythonUrlsafeB64decode('ab===x').toString('hex')).toBe('69');
    expect(pythonUrlsafeB64decode('').length).toBe(0);
  });

  it('decodes the same when fed in chunks of any size', () => {
    const text = Buffer.from('  YWJj\nZGVm Z2hp-_+/ab==ignored');
    const whole = pythonUrlsafeB64decode(text).toString('hex');
    for (const size of [1, 2, 3, 5, 7]) {
      const decoder = new PythonBase64Decoder();
      const parts: Buffer[] = [];
      for (let i = 0; i < text.length; i += size) parts.push(decoder.update(text.subarray(i, i + size)));
      decoder.final();
      expect(Buffer.concat(parts).toString('hex')).toBe(whole);
    }
  });

  it('agrees with the recorded Python results (fixtures/source/base64-cases.json)', () => {
    const cases = JSON.parse(readFileSync(new URL('base64-cases.json', FIXTURES), 'utf8')) as { input: string; hex?: string; error?: string }[];
    expect(cases.length).toBeGreaterThan(200);
    for (const c of cases) {
      expect({ input: c.input, ...outcome(c.input) }).toEqual({ input: c.input, ...(c.error === undefined ? { hex: c.hex } : { error: true }) });
    }
  });

  it('agrees with live python3 on 600 random strings', () => {
    // Deterministic pseudo-random strings over base64 chars, '=', and junk (incl. non-ASCII).
    let seed = 0x2545f491;
    const next = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/'.split('');
    // '=' is heavily weighted: the interesting behaviour is all about where padding falls.
    const extra = [...'='.repeat(30), ' ', '\n', '\t', '!', '.', '%', '\u00e9', '\u0000', '~'];
    const pool = [...alphabet, ...extra];
    const inputs: string[] = [];
    for (let i = 0; i < 600; i++) {
      const len = Math.floor(next() * 12);
      let s = '';
      for (let j = 0; j < len; j++) s += pool[Math.floor(next() * pool.length)] ?? '';
      inputs.push(s);
    }
    const script = `
import base64, json, sys
out = []
for s in json.load(sys.stdin):
    try: out.append({"hex": base64.urlsafe_b64decode(s).hex()})
    except Exception as e: out.append({"error": True})
print(json.dumps(out))`;
    const expected = python(script, inputs) as ({ hex: string } | { error: true })[];
    const actual = inputs.map(outcome);
    expect(actual).toEqual(expected);
    // The sample must exercise all three outcomes to mean anything.
    expect(expected.some((e) => 'error' in e)).toBe(true);
    expect(expected.some((e) => 'hex' in e && e.hex.length > 0)).toBe(true);
  });
});

describe('masterKeyBytes', () => {
  it('follows the table of FORMAT.md', () => {
    expect(masterKeyBytes('W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE=')).toEqual(
      Buffer.from('W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE=', 'base64'),
    );
    expect(masterKeyBytes('mysecret').toString('hex')).toBe('9b2b1e72b7ad');
    expect(masterKeyBytes('my secret!').toString('hex')).toBe('9b2b1e72b7ad');
    for (const raw of ['abc', 'hello-world_key', 'a=bc']) expect(masterKeyBytes(raw)).toEqual(Buffer.from(raw, 'utf8'));
    expect(masterKeyBytes('ab==cd').toString('hex')).toBe('69');
    expect(masterKeyBytes('YWJjZA==extra').toString('latin1')).toBe('abcd');
  });

  it('falls back to UTF-8 for a non-ASCII string (Python raises ValueError there)', () => {
    expect(masterKeyBytes('clé')).toEqual(Buffer.from('clé', 'utf8'));
  });
});

function material(key: FernetKey): string {
  return Buffer.concat([key.signingKey, key.encryptionKey]).toString('hex');
}

describe('deriveUserKey', () => {
  it('derives the recorded keys (fixtures/source/user-keys.json, written by Python)', async () => {
    const cases = JSON.parse(readFileSync(new URL('user-keys.json', FIXTURES), 'utf8')) as {
      user: string;
      master_key: string | null;
      material_hex: string;
    }[];
    for (const c of cases) {
      const key = await deriveUserKey(c.user, c.master_key ?? undefined);
      expect({ user: c.user, master: c.master_key, hex: material(key) }).toEqual({ user: c.user, master: c.master_key, hex: c.material_hex });
      expect(key.origin.kind).toBe(c.master_key === null ? 'default-key' : 'master-key');
    }
  });

  it('agrees with live python3 + cryptography', async () => {
    const pairs: [string, string | null][] = [
      ['carol_corp', 'W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE='],
      ['mycguo_gmail_com', 'mysecret'],
      ['u-1_2', 'a=bc'],
      ['frank', 'YWJjZA==extra'],
      ['z', 'pässwörd'],
      ['dave', null],
      ['Z-9', null],
    ];
    const script = `
import base64, hashlib, json, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.fernet import Fernet
out = []
for user, mk in json.load(sys.stdin):
    if mk is None:
        material = hashlib.sha256(("default_key_" + user).encode()).digest()
    else:
        try: pw = base64.urlsafe_b64decode(mk)
        except Exception: pw = mk.encode()
        material = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=user.encode(), iterations=100000).derive(pw)
    Fernet(base64.urlsafe_b64encode(material))  # the application's use: must be a valid Fernet key
    out.append(material.hex())
print(json.dumps(out))`;
    const expected = python(script, pairs) as string[];
    const actual = await Promise.all(pairs.map(async ([u, m]) => material(await deriveUserKey(u, m ?? undefined))));
    expect(actual).toEqual(expected);
  });

  it('gives different users different keys', async () => {
    const a = await deriveUserKey('alice', 'k');
    const b = await deriveUserKey('bob', 'k');
    expect(material(a)).not.toBe(material(b));
  });
});

describe('FernetKey redaction', () => {
  it('never prints key material', async () => {
    const key = await deriveUserKey('erin', 'W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE=');
    const hex = material(key);
    const b64 = Buffer.from(hex, 'hex').toString('base64url');
    const renderings = [
      JSON.stringify(key),
      JSON.stringify({ nested: { key } }),
      inspect(key, { showHidden: true, depth: 5 }),
      inspect({ key }),
      String(key),
      `${key}`,
      key.describe(),
    ];
    for (const text of renderings) {
      expect(text).not.toContain(hex.slice(0, 16));
      expect(text).not.toContain(hex.slice(32, 48));
      expect(text).not.toContain(b64.slice(0, 12));
      expect(text).not.toContain('W3pm0Q8c');
    }
    expect(String(key)).toBe('FernetKey(user erin, master key)');
    expect(Object.keys(key)).toEqual(['origin']);
  });

  it('rejects a malformed explicit key without echoing it', () => {
    for (const bad of ['short', 'c2hvcnQ=']) {
      try {
        fernetKeyFromString(bad);
        expect.unreachable();
      } catch (error) {
        expect(isMigrateError(error) && error.code).toBe('E_USAGE');
        expect((error as Error).message).not.toContain(bad);
      }
    }
    expect(fernetKeyFromString('cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=').origin).toEqual({ kind: 'explicit' });
  });
});
