/**
 * Key rotation through the real CLI, on both drivers: one tree whose stores Python's
 * cryptography.fernet encrypted under two master keys and the default per-user key (and one plain
 * store). Every store loads with the whole key set and the report names the key by position; a
 * key set missing some keys fails exactly those stores with E_DECRYPT and writes nothing of them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTable, readRows, REPO, runCli, targetArgs, TEST_DATABASE_URL, type Target } from './helpers/cli.js';

const K1 = 'W3pm0Q8cT3l3M1gP1yH0mXb8m5Jg1J3uG1m2l1Yt2xE=';
const K2 = 'old,raw key #2'; // a raw-string key with a comma: only the repeated flag can pass it
const WRONG = 'not-the-right-key';
/** Each test runs the CLI (PGlite start-up included) up to three times on 2 shared cores. */
const SLOW = 300_000;

interface Report {
  stores: { userId: string; collection: string; status: string; key: string | null; rowsLoaded: number; error: { code: string; message: string } | null }[];
}

const STORES = [
  { user: 'alice_example_com', collection: 'new', master_key: K1, encrypt: true },
  { user: 'alice_example_com', collection: 'old', master_key: K2, encrypt: true },
  { user: 'bob', collection: 'personal_assistant', master_key: null, encrypt: true },
  { user: 'carol', collection: 'plain', master_key: null, encrypt: false },
  { user: 'dave', collection: 'personal_assistant', master_key: K2, encrypt: true },
].map((s) => ({ ...s, dims: 6, entries: [0, 1, 2, 3].map((i) => ({ id: `${s.user}-${s.collection}-${i}`, text: `${s.user} ${s.collection} note ${i} ✓`, timestamp: `2024-01-0${i + 1}` })) }));

// Made at load time: the drivers' table below is built when the tests are collected.
const work = mkdtempSync(path.join(tmpdir(), 'pvm-rotation-'));
let root = '';

beforeAll(async () => {
  root = path.join(work, 'user_data');
  execFileSync('python3', [path.join(REPO, 'scripts/write_stores.py')], { input: JSON.stringify({ root, stores: STORES }) });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const keyOf = (r: Report) => Object.fromEntries(r.stores.map((s) => [`${s.userId}/${s.collection}`, s.key]));
const statusOf = (r: Report) => Object.fromEntries(r.stores.map((s) => [`${s.userId}/${s.collection}`, s.error?.code ?? s.status]));

const targets = (): Target[] => [
  { driver: 'pg', url: TEST_DATABASE_URL },
  { driver: 'pglite', dir: path.join(work, 'pglite') },
];

describe.each(targets().map((t) => [t.driver, t] as const))('key rotation (%s)', (_driver, target) => {
  const table = `rotation_${target.driver}_${process.pid}`;
  const migrate = async (extra: string[], name: string, env: Record<string, string> = {}) => {
    const report = path.join(work, `${target.driver}-${name}.json`);
    const r = await runCli(['migrate', root, ...targetArgs(target), '--table', `${table}_${name}`, '--embeddings', 'keep', '--no-backup', '--report', report, ...extra], { env });
    return { r, report: JSON.parse(await readFile(report, 'utf8')) as Report };
  };
  afterAll(async () => {
    if (target.driver === 'pg') for (const name of ['all', 'k1']) await dropTable(TEST_DATABASE_URL, `${table}_${name}`);
  });

  it('loads every store with --master-key K1 --master-key K2 --try-default-key, naming the key of each by position', async () => {
    const { r, report } = await migrate(['--master-key', K1, '--master-key', K2, '--try-default-key'], 'all');
    expect(r.code, r.stderr).toBe(0);
    expect(keyOf(report)).toEqual({
      'alice_example_com/new': 'master#1',
      'alice_example_com/old': 'master#2',
      'bob/personal_assistant': 'default',
      'carol/plain': null,
      'dave/personal_assistant': 'master#2',
    });
    const rows = await readRows(target, `${table}_all`);
    expect(rows.map((row) => [row.user_id, row.collection_name, row.text])).toEqual(
      [...STORES].sort((a, b) => `${a.user}/${a.collection}`.localeCompare(`${b.user}/${b.collection}`)).flatMap((s) => s.entries.map((e) => [s.user, s.collection, e.text])),
    );
    for (const where of [r.stdout, r.stderr, JSON.stringify(report)]) for (const k of [K1, K2]) expect(where.includes(k)).toBe(false);
  }, SLOW);

  it('verify re-reads the sources with the same key set, and flags the rows of stores a smaller key set cannot open', async () => {
    const v = await runCli(['verify', root, ...targetArgs(target), '--table', `${table}_all`, '--embeddings', 'keep', '--json', '--master-key', K1, '--master-key', K2, '--try-default-key']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const onlyK1 = await runCli(['verify', root, ...targetArgs(target), '--table', `${table}_all`, '--embeddings', 'keep', '--json', '--master-key', K1]);
    expect(onlyK1.code).toBe(1);
    expect(onlyK1.stdout).toMatch(/not-loaded-but-has-rows/);
  }, SLOW);

  it('with only K1 the stores of the other keys fail E_DECRYPT and have no rows at all', async () => {
    const { r, report } = await migrate(['--master-key', K1], 'k1');
    expect(r.code, r.stderr).toBe(1);
    expect(statusOf(report)).toEqual({
      'alice_example_com/new': 'ok',
      'alice_example_com/old': 'E_DECRYPT',
      'bob/personal_assistant': 'E_DECRYPT',
      'carol/plain': 'ok',
      'dave/personal_assistant': 'E_DECRYPT',
    });
    expect(keyOf(report)['alice_example_com/old']).toBeNull();
    const rows = await readRows(target, `${table}_k1`);
    expect([...new Set(rows.map((row) => `${row.user_id}/${row.collection_name}`))]).toEqual(['alice_example_com/new', 'carol/plain']);
    expect(rows).toHaveLength(8);
  }, SLOW);
});

describe('candidate keys from the environment, and a key set without the default key', () => {
  it('ENCRYPTION_MASTER_KEY is master#1, then ENCRYPTION_MASTER_KEYS; the first key that verifies wins', async () => {
    const report = path.join(work, 'env.json');
    const r = await runCli(['migrate', root, '--pglite-dir', path.join(work, 'pglite-env'), '--embeddings', 'keep', '--no-backup', '--dry-run', '--try-default-key', '--report', report], {
      env: { ENCRYPTION_MASTER_KEY: K2, ENCRYPTION_MASTER_KEYS: `${WRONG}, ${K1}` },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(keyOf(JSON.parse(await readFile(report, 'utf8')) as Report)).toEqual({
      'alice_example_com/new': 'master#3',
      'alice_example_com/old': 'master#1',
      'bob/personal_assistant': 'default',
      'carol/plain': null,
      'dave/personal_assistant': 'master#1',
    });
  }, SLOW);

  it('a store no candidate opens fails with E_DECRYPT saying how many keys were tried, and hints at --try-default-key', async () => {
    const report = path.join(work, 'nodefault.json');
    const r = await runCli(['migrate', root, '--pglite-dir', path.join(work, 'pglite-nodefault'), '--embeddings', 'keep', '--no-backup', '--dry-run', '--master-key', K1, '--master-key', WRONG, '--report', report]);
    expect(r.code, r.stderr).toBe(1);
    const bob = (JSON.parse(await readFile(report, 'utf8')) as Report).stores.find((s) => s.userId === 'bob');
    expect(bob?.error?.code).toBe('E_DECRYPT');
    expect(bob?.error?.message).toMatch(/does not verify under any of the 2 candidate keys tried for user bob \(master#1, master#2\).*--try-default-key/);
  }, SLOW);
});
