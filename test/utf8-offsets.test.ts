/**
 * Invalid UTF-8 is reported at its true byte offset, the one Python's UnicodeDecodeError calls
 * `start`: in metadata.json (plain and Fernet-encrypted, in the first 32 KB piece and far past
 * it, across piece and read-chunk boundaries) and in pickled strs. Every file is written by
 * Python, which also computes the expected offset.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveUserKey } from '../src/source/keys.js';
import { parseMetadataStream, readMetadataEntries } from '../src/source/metadata.js';
import { inspectPickledVectors } from '../src/source/pickle/index.js';
import { findUtf8Error } from '../src/source/utf8.js';

const MASTER = 'utf8-offsets-master';
const USER = 'alice';

/** Writes one metadata.json per case (plain and encrypted) and one damaged pickle per protocol; prints Python's offsets. */
const WRITER = `
import json, os, pickle, sys
import numpy as np
from cryptography.fernet import Fernet
sys.path.insert(0, os.path.join(sys.argv[1], "scripts"))
from make_user_data import user_key
spec = json.load(sys.stdin)
out = {"metadata": [], "pickles": []}
head = b'[{"id": 1, "text": "'
filler = ("aé€😀" * 50000).encode()
for case in spec["cases"]:
    pos, bad = case["at"], bytes.fromhex(case["bad"])
    room = pos - len(head)
    cut = filler[:room]
    while True:  # end the filler on a character boundary, then pad with ASCII
        try:
            cut.decode("utf-8")
            break
        except UnicodeDecodeError:
            cut = cut[:-1]
    raw = head + cut + b"a" * (room - len(cut)) + bad + b'tail"}]'
    try:
        raw.decode("utf-8")
        start = None
    except UnicodeDecodeError as e:
        start = e.start
    for encrypt in (False, True):
        path = os.path.join(spec["dir"], f"{case['name']}-{'fernet' if encrypt else 'plain'}.json")
        with open(path, "wb") as f:
            f.write(Fernet(user_key(spec["user"], spec["master_key"])).encrypt(raw) if encrypt else raw)
        out["metadata"].append({"name": case["name"], "path": path, "start": start, "encrypted": encrypt})
for protocol in (2, 4):
    data = bytearray(pickle.dumps([np.arange(3, dtype=np.float32)], protocol=protocol))
    i = data.index(b"_reconstruct") + 3
    data[i] = 0xff
    try:
        pickle.loads(bytes(data))
        start = None
    except UnicodeDecodeError as e:
        start = i - 3 + e.start  # e.start counts from the str: "_reconstruct" here
    path = os.path.join(spec["dir"], f"p{protocol}.pkl")
    with open(path, "wb") as f:
        f.write(bytes(data))
    out["pickles"].append({"protocol": protocol, "path": path, "start": start})
print(json.dumps(out))
`;

const PIECE = 32 * 1024;
const CASES = [
  { name: 'first-piece', at: 40, bad: 'ff' },
  { name: 'second-piece', at: 40_000, bad: 'ff' },
  // A 3-byte lead ending the first piece, its wrong continuation starting the second.
  { name: 'cut-lead', at: PIECE - 1, bad: 'e241' },
  // A 4-byte sequence, two good bytes on each side of a piece boundary, then a wrong one.
  { name: 'cut-4-byte', at: 2 * PIECE - 2, bad: 'f09f9f41' },
  { name: 'overlong', at: 100_001, bad: 'c080' },
  // An encoded surrogate across the 256 KB read chunk of plain files.
  { name: 'surrogate', at: 256 * 1024 - 1, bad: 'eda080' },
  { name: 'far', at: 400_003, bad: '80' },
];

interface Written {
  metadata: { name: string; path: string; start: number | null; encrypted: boolean }[];
  pickles: { protocol: number; path: string; start: number | null }[];
}

const dir = mkdtempSync(join(tmpdir(), 'pvm-utf8-'));
let written: Written;

beforeAll(() => {
  const run = spawnSync('python3', ['-c', WRITER, join(__dirname, '..')], { input: JSON.stringify({ dir, user: USER, master_key: MASTER, cases: CASES }), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  written = JSON.parse(run.stdout) as Written;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function failureOf(entries: AsyncIterable<unknown>): Promise<Error & { code?: string }> {
  try {
    for await (const _ of entries);
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

describe('invalid UTF-8 in metadata.json', () => {
  it('Python places every case where intended', () => {
    for (const m of written.metadata) expect(m.start, m.name).toBe(CASES.find((c) => c.name === m.name)?.at);
  });

  it('names the byte offset Python reports, plain and encrypted, in the first piece and past it', async () => {
    const key = await deriveUserKey(USER, MASTER);
    for (const m of written.metadata) {
      const error = await failureOf(readMetadataEntries(m.path, key, { userId: USER, collection: m.name }));
      expect(error.code, `${m.name} ${m.encrypted}`).toBe('E_METADATA');
      expect(error.message, `${m.name} ${m.encrypted}`).toContain(`is not valid UTF-8, at byte offset ${m.start} (counting from 0`);
    }
  });

  it('names the same offset however the input is chunked', async () => {
    for (const m of written.metadata.filter((w) => !w.encrypted)) {
      const bytes = readFileSync(m.path);
      for (const size of [7, 1000, PIECE + 1, 300_000]) {
        const chunks: Buffer[] = [];
        for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
        const error = await failureOf(parseMetadataStream(Readable.from(chunks, { objectMode: false }), m.name));
        expect(error.message, `${m.name}, chunks of ${size}`).toContain(`at byte offset ${m.start} `);
      }
    }
  });
});

describe('invalid UTF-8 in a pickled str', () => {
  it('names the file offset of the byte Python fails on', async () => {
    for (const p of written.pickles) {
      expect(p.start, `protocol ${p.protocol}`).not.toBeNull();
      const error = await inspectPickledVectors(p.path).then(
        () => null,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(error?.code, `protocol ${p.protocol}`).toBe('E_PICKLE');
      expect(error?.message, `protocol ${p.protocol}`).toContain(`at file offset ${p.start} `);
    }
  });
});

describe('findUtf8Error', () => {
  it('agrees with Python on where each kind of bad sequence starts', () => {
    const samples = ['ff', '41c0af', 'e0809f', 'eda080', 'f4908080', 'f5', 'c2', 'e282', '41e28241', 'f09f98', 'f09f9880', 'c3a9e282ac'];
    const run = spawnSync('python3', ['-c', 'import json,sys\nout=[]\nfor h in json.load(sys.stdin):\n  try:\n    bytes.fromhex(h).decode("utf-8"); out.append(None)\n  except UnicodeDecodeError as e:\n    out.append(e.start)\nprint(json.dumps(out))'], { input: JSON.stringify(samples), encoding: 'utf8' });
    const python = JSON.parse(run.stdout) as (number | null)[];
    expect(samples.map((h) => findUtf8Error(Buffer.from(h, 'hex'), true)?.at ?? null)).toEqual(python);
  });
});
