import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash, createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isMigrateError, type ErrorCode } from '../src/errors.js';
import { fernetEncrypt } from '../src/source/fernet.js';
import { deriveUserKey, type FernetKey } from '../src/source/keys.js';
import { countMetadataEntries, detectMetadataEncoding, parseMetadataStream, readMetadataEntries } from '../src/source/metadata.js';
import type { MetadataEntry } from '../src/source/types.js';
import { SHARED_STORES } from './helpers/paths.js';

const STORES = SHARED_STORES;
const USER_DATA = join(STORES, 'user_data');
const CASES = JSON.parse(readFileSync(join(STORES, 'CASES.json'), 'utf8')) as {
  master_key: string;
  cases: { user: string; collection: string; entries: number; expect: string }[];
};
const MASTER = CASES.master_key;


function python(script: string, input: unknown): unknown {
  const run = spawnSync('python3', ['-c', script], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 256 << 20 });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/**
 * A canonical form both languages can produce: strings as UTF-16 code units (so lone surrogates
 * and U+0000 are compared exactly), numbers as IEEE doubles, object keys sorted (key order is
 * not preserved by JS for integer-like keys, and jsonb does not keep it either).
 */
function canon(value: unknown): string {
  if (value === null) return 'n';
  if (value === true) return 't';
  if (value === false) return 'f';
  if (typeof value === 'number') {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(value);
    return `d${b.toString('hex')}`;
  }
  if (typeof value === 'string') return `s${Buffer.from(value, 'utf16le').swap16().toString('hex')};`;
  if (Array.isArray(value)) return `[${value.map(canon).join('')}]`;
  if (typeof value === 'object') {
    const keys = Object.keys(value).map((k) => [canon(k), k] as const);
    keys.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return `{${keys.map(([ck, k]) => ck + canon((value as Record<string, unknown>)[k])).join('')}}`;
  }
  throw new Error(`unexpected ${typeof value}`);
}

const PY_CANON = `
import json, struct, sys, hashlib
def canon(v):
    if v is None: return 'n'
    if v is True: return 't'
    if v is False: return 'f'
    if isinstance(v, (int, float)): return 'd' + struct.pack('>d', float(v)).hex()
    if isinstance(v, str): return 's' + v.encode('utf-16-be', 'surrogatepass').hex() + ';'
    if isinstance(v, list): return '[' + ''.join(canon(x) for x in v) + ']'
    items = sorted((canon(k), x) for k, x in v.items())
    return '{' + ''.join(ck + canon(x) for ck, x in items) + '}'
`;

/** Python's json.loads of each file (decrypted with Fernet when given a key), in canonical form. */
function pythonEntries(files: { path: string; fernetKey?: string }[]): string[][] {
  const script = `${PY_CANON}
from cryptography.fernet import Fernet
out = []
for f in json.load(sys.stdin):
    data = open(f['path'], 'rb').read()
    if f.get('fernetKey'): data = Fernet(f['fernetKey']).decrypt(data)
    out.append([canon(e) for e in json.loads(data)])
print(json.dumps(out))`;
  return python(script, files) as string[][];
}

function urlsafeB64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

function fernetSecret(key: FernetKey): string {
  return urlsafeB64(Buffer.concat([key.signingKey, key.encryptionKey]));
}

async function collect(iterable: AsyncIterable<MetadataEntry>): Promise<MetadataEntry[]> {
  const out: MetadataEntry[] = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

async function failure(promise: Promise<unknown>): Promise<{ code: ErrorCode; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isMigrateError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a failure');
}

/** A byte stream of `data` cut into pieces of `size` bytes: cuts land inside escapes and characters. */
function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts, { objectMode: false });
}

const storeFile = (user: string, collection: string): string => join(USER_DATA, user, `vector_store_${collection}`, 'metadata.json');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pvm-metadata-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('readMetadataEntries on the Python-written stores', () => {
  const readable = CASES.cases.filter((c) => c.user !== 'not a valid id' && !['erin', 'heidi'].includes(c.user));

  it('reads every store with the entry count of CASES.json (plain and Fernet)', async () => {
    expect(readable.length).toBe(9);
    for (const c of readable) {
      const key = await deriveUserKey(c.user, MASTER);
      const ctx = { userId: c.user, collection: c.collection };
      const entries = await collect(readMetadataEntries(storeFile(c.user, c.collection), key, ctx));
      expect({ store: `${c.user}/${c.collection}`, n: entries.length }).toEqual({ store: `${c.user}/${c.collection}`, n: c.entries });
      expect(await countMetadataEntries(storeFile(c.user, c.collection), key, ctx)).toBe(c.entries);
    }
  });

  it('detects the encoding by the first bytes', async () => {
    expect(await detectMetadataEncoding(storeFile('alice_example_com', 'personal_assistant'))).toBe('fernet');
    expect(await detectMetadataEncoding(storeFile('alice_example_com', 'notes'))).toBe('json');
    expect(await detectMetadataEncoding(storeFile('judy', 'empty'))).toBe('json');
  });

  it('gives exactly what Python json.loads gives, for every store', async () => {
    const files = await Promise.all(
      readable.map(async (c) => {
        const path = storeFile(c.user, c.collection);
        const encrypted = (await detectMetadataEncoding(path)) === 'fernet';
        return { path, fernetKey: encrypted ? fernetSecret(await deriveUserKey(c.user, MASTER)) : undefined };
      }),
    );
    const expected = pythonEntries(files.map((f) => (f.fernetKey === undefined ? { path: f.path } : { path: f.path, fernetKey: f.fernetKey })));
    for (const [i, c] of readable.entries()) {
      const entries = await collect(readMetadataEntries(storeFile(c.user, c.collection), await deriveUserKey(c.user, MASTER), { userId: c.user, collection: c.collection }));
      expect(entries.map(canon)).toEqual(expected[i]);
    }
  });

  it("keeps frank's NUL, tab, newline, backslash and emoji exactly", async () => {
    const entries = await collect(readMetadataEntries(storeFile('frank', 'personal_assistant'), await deriveUserKey('frank', MASTER), { userId: 'frank', collection: 'personal_assistant' }));
    expect(entries[1]?.text).toBe('emoji 🚀 CJK 漢字 RTL שלום and a tab\tand newline\nand backslash \\ end');
    expect(entries[2]?.text).toBe('text with a NUL byte\u0000 inside, which PostgreSQL text cannot store');
    expect(entries[0]?.tags).toEqual(['a', { nested: [1, 2, null] }]);
  });

  it('fails erin (truncated token) with E_DECRYPT, never parsing it as JSON', async () => {
    const f = await failure(collect(readMetadataEntries(storeFile('erin', 'personal_assistant'), await deriveUserKey('erin', MASTER), { userId: 'erin', collection: 'personal_assistant' })));
    expect(f.code).toBe('E_DECRYPT');
    expect(f.message).toMatch(/^metadata\.json of erin\/personal_assistant is not a valid Fernet token: .*truncated/);
  });

  it('fails alice with a wrong master key or no master key with E_DECRYPT, not garbage', async () => {
    const ctx = { userId: 'alice_example_com', collection: 'personal_assistant' };
    const wrong = await failure(collect(readMetadataEntries(storeFile(ctx.userId, ctx.collection), await deriveUserKey(ctx.userId, 'X3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE='), ctx)));
    expect(wrong).toEqual({
      code: 'E_DECRYPT',
      message:
        'metadata.json of alice_example_com/personal_assistant is a Fernet token that does not verify under the key derived for user alice_example_com ' +
        '(with the configured master key): wrong master key, wrong user id, or a corrupted/truncated file',
    });
    // As in Python, a master key differing only in the unused low bits of its last character is the same key.
    const sameBytes = await deriveUserKey(ctx.userId, 'W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xF=');
    expect(await countMetadataEntries(storeFile(ctx.userId, ctx.collection), sameBytes, ctx)).toBe(40);
    const none = await failure(countMetadataEntries(storeFile(ctx.userId, ctx.collection), await deriveUserKey(ctx.userId, undefined), ctx));
    expect(none.code).toBe('E_DECRYPT');
    expect(none.message).toMatch(/without a master key/);
  });
});

describe('parsing preserves every string exactly', () => {
  const TRICKY_SCRIPT = `${PY_CANON}
from cryptography.fernet import Fernet
d, secret = json.load(sys.stdin)
texts = ["nul \\x00 inside", "\\x00", "lone high \\ud800 x", "lone low \\udc00", "pair \\ud83d\\ude80", "emoji 🚀 漢字 שלום",
         "tab\\tnl\\ncr\\rbs\\\\ quote\\" slash/ del\\x7f ls\\u2028 bom\\ufeff", "\\x01\\x1f\\b\\f",
         "x" * 255 + "\\u00e9" + "y" * 300 + "\\\\" * 5 + "\\x00", "é" * 1000, "🚀" * 300]
entries = []
for i, t in enumerate(texts):
    entries.append({"id": i, "text": t, "k\\u00e9y\\x00": [t, {"n": t}], "1": i, "b": True, "z": None, "f": 0.1 + i,
                    "big": 12345678901234567, "neg": -0.0, "exp": 1.5e300, "small": 5e-324})
entries.append({"__proto__": {"text": "polluted?"}, "constructor": "c", "toString": 1})
out = {}
for name, ascii_only, indent in [("ascii", True, None), ("raw", False, 2), ("raw-compact", False, None)]:
    items = entries if ascii_only else [e for e in entries if not any(0xd800 <= ord(ch) <= 0xdfff for ch in e.get("text", ""))]
    data = json.dumps(items, ensure_ascii=ascii_only, indent=indent).encode("utf-8")
    open(d + "/" + name + ".json", "wb").write(data)
    open(d + "/" + name + ".token", "wb").write(Fernet(secret).encrypt(data))
    out[name] = [canon(e) for e in json.loads(data)]
print(json.dumps(out))`;

  it('matches Python on NUL, lone surrogates, pairs, controls, long strings; files and tokens; any chunking', async () => {
    const dir = join(tmp, 'tricky');
    mkdirSync(dir);
    const key = await deriveUserKey('tricky', MASTER);
    const expected = python(TRICKY_SCRIPT, [dir, fernetSecret(key)]) as Record<string, string[]>;
    const ctx = { userId: 'tricky', collection: 'c' };
    for (const [name, want] of Object.entries(expected)) {
      expect((await collect(readMetadataEntries(join(dir, `${name}.json`), key, ctx))).map(canon)).toEqual(want);
      expect((await collect(readMetadataEntries(join(dir, `${name}.token`), key, ctx))).map(canon)).toEqual(want);
      const bytes = readFileSync(join(dir, `${name}.json`));
      for (const size of [1, 2, 3, 7, 64]) {
        expect((await collect(parseMetadataStream(chunked(bytes, size), name))).map(canon)).toEqual(want);
      }
    }
  });

  it('keeps "__proto__" as an own key and never changes the prototype', async () => {
    const entries = await collect(parseMetadataStream(chunked(Buffer.from('[{"__proto__": {"text": "x"}, "a": 1}]'), 5), 't'));
    const entry = entries[0] as MetadataEntry;
    expect(Object.getPrototypeOf(entry)).toBe(Object.prototype);
    expect(Object.keys(entry)).toEqual(['__proto__', 'a']);
    expect(entry.text).toBeUndefined();
    expect(JSON.stringify(entry)).toBe('{"__proto__":{"text":"x"},"a":1}');
    expect(({} as Record<string, unknown>).text).toBeUndefined();
  });
});

describe('shape and format errors', () => {
  async function errorOf(content: string | Buffer): Promise<{ code: ErrorCode; message: string }> {
    const path = join(tmp, `case-${createHash('sha256').update(content).digest('hex').slice(0, 12)}`);
    writeFileSync(path, content);
    const key = await deriveUserKey('u', MASTER);
    const ctx = { userId: 'u', collection: 'c' };
    const viaRead = await failure(collect(readMetadataEntries(path, key, ctx)));
    const viaCount = await failure(countMetadataEntries(path, key, ctx));
    expect(viaCount.code).toBe(viaRead.code);
    return viaRead;
  }

  it('names the index and the type of a wrong entry', async () => {
    expect(await errorOf('[{}, "x"]')).toEqual({ code: 'E_METADATA', message: 'metadata.json of u/c: entry 1 is a string, expected an object (the file must be a JSON array of objects)' });
    expect((await errorOf('[1]')).message).toMatch(/entry 0 is a number/);
    expect((await errorOf('[{"a": [1]}, {}, []]')).message).toMatch(/entry 2 is an array/);
    expect((await errorOf('[null]')).message).toMatch(/entry 0 is null/);
    expect((await errorOf('[true]')).message).toMatch(/entry 0 is a boolean/);
  });

  it('refuses a top level that is not an array', async () => {
    expect(await errorOf('{"a": 1}')).toMatchObject({ code: 'E_METADATA', message: expect.stringMatching(/JSON object, expected an array of objects/) });
    expect(await errorOf('"text"')).toMatchObject({ code: 'E_METADATA', message: expect.stringMatching(/neither a JSON array .* nor a Fernet token/) });
    expect(await errorOf('hello')).toMatchObject({ code: 'E_METADATA', message: expect.stringMatching(/starts with "hello"/) });
  });

  it('refuses empty, truncated, trailing garbage, NaN, invalid UTF-8 and a BOM', async () => {
    expect((await errorOf('')).message).toMatch(/is empty/);
    expect((await errorOf(' \n\t ')).message).toMatch(/is empty/);
    expect(await errorOf('[{"a": 1},')).toMatchObject({ code: 'E_METADATA', message: expect.stringMatching(/not valid JSON \(after 1 complete entries\)/) });
    expect((await errorOf('[{"a": 1}')).code).toBe('E_METADATA');
    expect((await errorOf('[{"a": 1}] x')).code).toBe('E_METADATA');
    expect((await errorOf('[{"a": NaN}]')).message).toMatch(/not valid JSON \(after 0 complete entries\)/);
    expect((await errorOf(Buffer.concat([Buffer.from('[{"a": "'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]')]))).message).toMatch(/not valid UTF-8/);
    expect((await errorOf(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('[]')]))).message).toMatch(/byte-order mark/);
  });

  it('treats anything that starts like a token as a token (E_DECRYPT), never as JSON', async () => {
    expect(await errorOf('gAAAAAjunk')).toMatchObject({ code: 'E_DECRYPT' });
    expect(await errorOf('\n  gAAAAABrAeUIL5EYQ07k2mZvMqvVZsXLZtOFVqID\n')).toMatchObject({ code: 'E_DECRYPT' });
  });

  it('accepts leading whitespace before a token or an array, and an empty array', async () => {
    const key = await deriveUserKey('u', MASTER);
    const ctx = { userId: 'u', collection: 'c' };
    const path = join(tmp, 'ws-token');
    writeFileSync(path, `\n \t${fernetEncrypt(Buffer.from('[{"text": "t"}]'), key, { iv: Buffer.alloc(16), timestamp: 5 })}\n`);
    expect(await collect(readMetadataEntries(path, key, ctx))).toEqual([{ text: 't' }]);
    writeFileSync(path, '\r\n  [ ]  \n');
    expect(await collect(readMetadataEntries(path, key, ctx))).toEqual([]);
  });

  it('surfaces a failure at the end of the decrypted stream as E_DECRYPT, after entries were already parsed', async () => {
    // Valid JSON in the first blocks, then a last block that is not PKCS7 padding, correctly signed:
    // the parser sees a complete array before the decipher fails at the end.
    const key = await deriveUserKey('u', MASTER);
    const json = Buffer.from('[{"text": "a"}]'.padEnd(32, ' '));
    const iv = Buffer.alloc(16, 3);
    const cipher = createCipheriv('aes-128-cbc', key.encryptionKey, iv).setAutoPadding(false);
    const body = Buffer.concat([Buffer.from([0x80]), Buffer.alloc(8), iv, cipher.update(Buffer.concat([json, Buffer.alloc(16, 0)])), cipher.final()]);
    const path = join(tmp, 'bad-padding.token');
    writeFileSync(path, urlsafeB64(Buffer.concat([body, createHmac('sha256', key.signingKey).update(body).digest()])));
    // (Whether the entry was handed out before the error depends on timing; the error always comes.)
    const f = await failure(collect(readMetadataEntries(path, key, { userId: 'u', collection: 'c' })));
    expect(f).toMatchObject({ code: 'E_DECRYPT', message: expect.stringMatching(/^metadata\.json of u\/c is a Fernet token whose signature verifies .* padding is invalid/) });
  });

  it('reports a missing file as E_MISSING_FILE and a directory as E_METADATA', async () => {
    const key = await deriveUserKey('u', MASTER);
    const ctx = { userId: 'u', collection: 'c' };
    expect((await failure(collect(readMetadataEntries(join(tmp, 'nope.json'), key, ctx)))).code).toBe('E_MISSING_FILE');
    expect((await failure(collect(readMetadataEntries(tmp, key, ctx)))).code).toBe('E_METADATA');
  });

  it('closes the file when the consumer stops after one entry', async () => {
    const key = await deriveUserKey('u', MASTER);
    const ctx = { userId: 'u', collection: 'c' };
    const plain = join(tmp, 'many.json');
    const body = Buffer.from(JSON.stringify(Array.from({ length: 20000 }, (_, i) => ({ text: `entry ${i}`.repeat(20) }))));
    writeFileSync(plain, body);
    const token = join(tmp, 'many.token');
    writeFileSync(token, fernetEncrypt(body, key, { iv: Buffer.alloc(16), timestamp: 5 }));
    const fds = (): number => (process.platform === 'linux' ? readdirSync('/proc/self/fd').length : 0);
    const before = fds();
    for (let i = 0; i < 5; i++) {
      for (const path of [plain, token]) {
        for await (const entry of readMetadataEntries(path, key, ctx)) {
          expect(entry.text).toMatch(/^entry 0/);
          break;
        }
      }
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(fds()).toBeLessThanOrEqual(before);
  });
});

describe('a 20 MB Fernet metadata.json written by Python', () => {
  it('streams to the same entries as Python, in bounded memory', async () => {
    const key = await deriveUserKey('big_user', MASTER);
    const path = join(tmp, 'big.token');
    const script = `${PY_CANON}
import random
from cryptography.fernet import Fernet
secret, path = json.load(sys.stdin)
rng = random.Random(3)
words = ["alpha", "βeta", "漢字", "🚀", "tab\\t", "nl\\n", "bs\\\\", "q\\"", "\\x00", "é", "plain", "text"]
entries = []
size = 0
i = 0
while size < 20_000_000:
    text = " ".join(rng.choice(words) for _ in range(rng.randint(50, 400)))
    e = {"id": "doc_%d" % i, "text": text, "timestamp": "2025-11-06T09:30:00", "n": i, "score": rng.random(), "tags": ["a", {"x": [i, None, True]}]}
    entries.append(e)
    size += len(text) + 120
    i += 1
# Raw UTF-8: multi-byte characters and escapes fall across every kind of chunk boundary.
data = json.dumps(entries, ensure_ascii=False, indent=1).encode("utf-8")
open(path, "wb").write(Fernet(secret).encrypt(data))
h = hashlib.sha256()
for e in json.loads(data): h.update(canon(e).encode())
print(json.dumps({"count": len(entries), "digest": h.hexdigest(), "plain_bytes": len(data)}))`;
    const expected = python(script, [fernetSecret(key), path]) as { count: number; digest: string; plain_bytes: number };
    expect(expected.plain_bytes).toBeGreaterThan(20_000_000);
    const hash = createHash('sha256');
    let count = 0;
    let peakHeap = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    for await (const entry of readMetadataEntries(path, key, { userId: 'big_user', collection: 'c' })) {
      hash.update(canon(entry));
      count++;
      if (count % 1000 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed - heapBefore);
    }
    expect({ count, digest: hash.digest('hex') }).toEqual({ count: expected.count, digest: expected.digest });
    // Generous bound (GC timing varies): far below what holding 20 MB of text plus its objects takes.
    expect(peakHeap).toBeLessThan(120 << 20);
    expect(await countMetadataEntries(path, key, { userId: 'big_user', collection: 'c' })).toBe(expected.count);
  });
});
