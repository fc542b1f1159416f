/**
 * `__proto__`, `constructor` and `prototype` are ordinary metadata keys: written by Python's
 * json.dumps (plain, and Fernet-encrypted by cryptography), loaded through the CLI into both
 * drivers, and the jsonb read back is what Python's json.loads reads from the source file, at
 * every depth.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTable, REPO, runCli, targetArgs, TEST_DATABASE_URL, withDb, type Target } from './helpers/cli.js';

const MASTER = 'hostile-keys-master';
/** JSON text, so that "__proto__" is an own key here too (an object literal would set the prototype). */
const ENTRIES = JSON.parse(`[
  {"text": "t0", "__proto__": {"__proto__": {"x": 1}, "constructor": "c", "prototype": [{"__proto__": null}]}, "constructor": {"prototype": {"__proto__": "deep"}}, "prototype": 3},
  {"text": "t1", "__proto__": "a string", "nested": [{"__proto__": []}, {"constructor": {"name": "x"}}, {"__proto__": 0, "toString": false}]},
  {"text": "t2", "list": [[{"prototype": {"constructor": {"__proto__": {"__proto__": true}}}}]]},
  {"page_content": "t3", "__proto__": {"text": "not the text"}, "hasOwnProperty": "h"},
  {"text": null, "page_content": "t4", "constructor": null}
]`) as unknown[];

/** Python's reading of each source file, entry by entry, against the jsonb the tool stored. */
const ORACLE = `
import json, os, sys
from cryptography.fernet import Fernet
sys.path.insert(0, os.path.join(sys.argv[1], "scripts"))
from make_user_data import user_key
spec = json.load(sys.stdin)
bad = []
for s in spec["stores"]:
    raw = open(s["path"], "rb").read()
    if raw.startswith(b"gAAAAA"):
        raw = Fernet(user_key(s["user"], spec["master_key"])).decrypt(raw)
    entries = json.loads(raw)
    if len(entries) != len(s["rows"]):
        bad.append([s["path"], "count", len(entries), len(s["rows"])])
        continue
    for i, (entry, row) in enumerate(zip(entries, s["rows"])):
        key = next(k for k in ("text", "page_content", "content") if isinstance(entry.get(k), str))
        want = {k: v for k, v in entry.items() if k != key}
        if json.loads(row) != want:
            bad.append([s["path"], i, want, row])
print(json.dumps(bad))
`;

// Made at load time: the drivers' table below is built when the tests are collected.
const work = mkdtempSync(path.join(tmpdir(), 'pvm-keys-'));
let root = '';

beforeAll(async () => {
  root = path.join(work, 'user_data');
  const stores = [
    { user: 'alice', collection: 'plain', master_key: MASTER, encrypt: false, entries: ENTRIES },
    { user: 'alice', collection: 'encrypted', master_key: MASTER, encrypt: true, entries: ENTRIES },
  ];
  execFileSync('python3', [path.join(REPO, 'scripts/write_stores.py')], { input: JSON.stringify({ root, stores }) });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const targets = (): Target[] => [
  { driver: 'pg', url: TEST_DATABASE_URL },
  { driver: 'pglite', dir: path.join(work, 'pglite') },
];

describe.each(targets().map((t) => [t.driver, t] as const))('metadata keys __proto__, constructor, prototype (%s)', (_driver, target) => {
  const table = `hostile_keys_${target.driver}_${process.pid}`;
  afterAll(async () => {
    if (target.driver === 'pg') await dropTable(TEST_DATABASE_URL, table);
  });

  it('survive as ordinary keys at every depth, plain and encrypted, exactly as Python reads them', async () => {
    const report = path.join(work, `${target.driver}.json`);
    const r = await runCli(['migrate', root, ...targetArgs(target), '--table', table, '--embeddings', 'keep', '--no-backup', '--master-key', MASTER, '--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // The entry whose text is null: its text comes from page_content, with a warning per store.
    const stores = (JSON.parse(await readFile(report, 'utf8')) as { stores: { warnings: string[] }[] }).stores;
    for (const s of stores) expect(s.warnings).toEqual(['entry 4: text is null, not a string; took the text from page_content and kept text in the metadata']);
    const rows = await withDb(target, (q) => q<{ collection_name: string; m: string; text: string }>(`SELECT collection_name, text, metadata::text AS m FROM "${table}" ORDER BY collection_name, source_index`));
    expect(rows.map((row) => row.text)).toEqual(['t0', 't1', 't2', 't3', 't4', 't0', 't1', 't2', 't3', 't4']);
    expect(rows[0]?.m).toContain('"__proto__": {"x": 1}');
    const spec = {
      master_key: MASTER,
      stores: ['encrypted', 'plain'].map((collection) => ({
        user: 'alice',
        path: path.join(root, 'alice', `vector_store_${collection}`, 'metadata.json'),
        rows: rows.filter((row) => row.collection_name === collection).map((row) => row.m),
      })),
    };
    const mismatches = JSON.parse(execFileSync('python3', ['-c', ORACLE, REPO], { input: JSON.stringify(spec), encoding: 'utf8' })) as unknown[];
    expect(mismatches).toEqual([]);
  }, 300_000);
});
