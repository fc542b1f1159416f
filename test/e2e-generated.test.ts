import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropTable, readRows, REPO, runCli, TEST_DATABASE_URL, targetArgs, TINY_MODEL, type Target } from './helpers/cli.js';

interface Expected {
  master_key: string | null;
  stores: { user: string; collection: string; entries: number | null; vectors: number; dims: number; status: 'ok' | 'failed'; code: string | null; texts: string[] }[];
}

/** A user_data tree written by Python the way the application wrote it, with other users, sizes, dimensions and keys. */
async function generate(seed: number, masterKey: string | null): Promise<{ dir: string; expected: Expected }> {
  const dir = await mkdtemp(path.join(tmpdir(), `pvm-gen-${seed}-`));
  const args = [path.join(REPO, 'scripts/make_user_data.py'), '--out', dir, '--seed', String(seed), '--users', '6'];
  if (masterKey !== null) args.push('--master-key', masterKey);
  execFileSync('python3', args);
  return { dir, expected: JSON.parse(await readFile(path.join(dir, 'expected.json'), 'utf8')) as Expected };
}

const cases = [
  { driver: 'pglite', seed: 11, masterKey: 'my secret!' }, // decodes leniently to 6 bytes (FORMAT.md's table)
  { driver: 'pg', seed: 12, masterKey: null }, // no master key: the default per-user key
  { driver: 'pglite', seed: 13, masterKey: 'abc' }, // padding error: the UTF-8 bytes of the string
] as const;

describe.each(cases)('migrate a generated tree ($driver, seed $seed, master key $masterKey)', ({ driver, seed, masterKey }) => {
  const cleanup: string[] = [];
  const table = `gen_${seed}_${process.pid}`;
  afterAll(async () => {
    if (driver === 'pg') await dropTable(TEST_DATABASE_URL, table);
    for (const d of cleanup) await rm(d, { recursive: true, force: true });
  });

  it('loads every valid store exactly and fails the broken ones with their codes', async () => {
    const { dir, expected } = await generate(seed, masterKey);
    cleanup.push(dir);
    const target: Target = driver === 'pg' ? { driver, url: TEST_DATABASE_URL } : { driver, dir: path.join(dir, 'db') };
    const reportPath = path.join(dir, 'report.json');
    const env: Record<string, string> = masterKey === null ? {} : { ENCRYPTION_MASTER_KEY: masterKey };
    const r = await runCli(['migrate', path.join(dir, 'user_data'), ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--batch-size', '7', '--no-backup', '--report', reportPath], { env });
    expect(r.code, r.stderr).toBe(1);
    const report = JSON.parse(await readFile(reportPath, 'utf8')) as { stores: { userId: string; collection: string; status: string; error: { code: string } | null; vectors: number | null; rowsLoaded: number }[] };
    const rows = await readRows(target, table);
    for (const s of expected.stores) {
      const got = report.stores.find((x) => x.userId === s.user && x.collection === s.collection);
      expect(got, `${s.user}/${s.collection}`).toBeDefined();
      expect(got?.vectors).toBe(s.vectors);
      const stored = rows.filter((x) => x.user_id === s.user && x.collection_name === s.collection);
      if (s.status === 'failed') {
        expect(got?.error?.code).toBe(s.code);
        expect(stored).toHaveLength(0);
      } else {
        expect(got?.status).toBe('ok');
        expect(stored.map((x) => x.text)).toEqual(s.texts);
        expect(stored.map((x) => x.source_index)).toEqual(s.texts.map((_, i) => i));
      }
    }
    expect(report.stores.filter((x) => x.status === 'failed')).toHaveLength(2);
  });
});
