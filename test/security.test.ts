/**
 * Security guarantees, through the real CLI (dist/cli/bin.js) where it matters:
 *   - identifiers (--table, schema-qualified names) are validated and quoted, never spliced raw;
 *   - `..` and user names outside the root never reach a store outside it;
 *   - secrets (master key, derived keys, database password) appear in no output: stdout, stderr,
 *     the --report JSON, the ledger rows, error messages; also not in base64 or hex form.
 * Symlinks out of the root are covered by discover.test.ts (user, store and file links).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTable } from '../src/sink/identifiers.js';
import { deriveUserKey, masterKeyBytes } from '../src/source/keys.js';
import { REPO, runCli, SHARED_STORES, TEST_DATABASE_URL, TINY_MODEL, withDb, type CliResult } from './helpers/cli.js';

const MASTER = 'Qx7-Zebra-Secret-Master-Key-0042';
const DB_PASSWORD = 'Pw-Unique-Secret-7731';
const SEED = 31;

let work = '';
let root = '';
let users: string[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'pvm-security-'));
  execFileSync('python3', [path.join(REPO, 'scripts/make_user_data.py'), '--out', work, '--seed', String(SEED), '--users', '2', '--master-key', MASTER, '--max-entries', '8']);
  root = path.join(work, 'user_data');
  const expected = JSON.parse(await readFile(path.join(work, 'expected.json'), 'utf8')) as { stores: { user: string }[] };
  users = [...new Set(expected.stores.map((s) => s.user))];
});
afterAll(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

/** Every printable form of a secret that could leak: raw, URL-encoded, base64 (std/url), hex. */
function forms(secret: Uint8Array | string): string[] {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  const out = [bytes.toString('hex'), bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url')];
  if (typeof secret === 'string') out.push(secret, encodeURIComponent(secret));
  return [...new Set(out)].filter((s) => s.length >= 8);
}

async function secretForms(): Promise<string[]> {
  const found = [...forms(MASTER), ...forms(masterKeyBytes(MASTER)), ...forms(DB_PASSWORD)];
  for (const user of users) {
    const key = await deriveUserKey(user, MASTER);
    found.push(...forms(key.signingKey), ...forms(key.encryptionKey), ...forms(Buffer.concat([key.signingKey, key.encryptionKey])));
  }
  return found;
}

function expectNoSecret(where: string, text: string, secrets: readonly string[]): void {
  for (const s of secrets) expect(text.includes(s), `${where} contains a secret (${s.slice(0, 4)}...)`).toBe(false);
}

describe('identifiers are validated and quoted', () => {
  const QUOTED = /^"[a-z_][a-z0-9_]{0,62}"(\."[a-z_][a-z0-9_]{0,62}")?$/;

  it('resolveTable either refuses with E_USAGE or yields only quoted [a-z0-9_] identifiers (fast-check)', () => {
    const hostile = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.constantFrom('docs; DROP TABLE x', 'docs"; --', '"docs"', 'Docs', 'a.b.c', 'ünïcode', 'd\u0000x', 'x'.repeat(64), `${'x'.repeat(63)}.y`, 'public.', '.docs', ''),
    );
    fc.assert(
      fc.property(hostile, (name) => {
        let quoted: string;
        try {
          quoted = resolveTable(name).quoted;
        } catch (error) {
          expect(error).toMatchObject({ code: 'E_USAGE' });
          return;
        }
        expect(quoted).toMatch(QUOTED);
        expect(quoted.replace(/"/g, '')).toBe(name);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('the CLI refuses an injecting, quoted, upper-case, unicode, 3-part or over-long --table with exit 2 and E_USAGE, and runs no SQL', async () => {
    const canary = `sec_canary_${process.pid}`;
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS "${canary}" (x int)`);
      for (const table of [`x; DROP TABLE ${canary}`, `x"; DROP TABLE "${canary}`, '"quoted"', 'Docs', 'dócs', 'a.b.c', 't'.repeat(64), `public.${'t'.repeat(64)}`, '']) {
        const r = await runCli(['migrate', root, '--database-url', TEST_DATABASE_URL, '--table', table, '--model', TINY_MODEL, '--no-backup', '--master-key', MASTER]);
        expect(r.code, `--table ${JSON.stringify(table)}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(/E_USAGE/);
      }
      for (const cmd of [['status'], ['doctor'], ['rollback', '--run', '00000000-0000-0000-0000-000000000000']]) {
        const r = await runCli([...cmd, '--database-url', TEST_DATABASE_URL, '--table', `x; DROP TABLE ${canary}`]);
        expect(r.code, `${cmd[0]}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(/E_USAGE/);
      }
      const left = await client.query('SELECT to_regclass($1)::text AS t', [canary]);
      expect(left.rows[0]).toEqual({ t: canary });
    } finally {
      await client.query(`DROP TABLE IF EXISTS "${canary}"`);
      await client.end();
    }
  });
});

describe('paths', () => {
  it('--users with .., absolute paths or separators never reads a store outside the root', async () => {
    await runCli(['migrate', root, '--pglite-dir', path.join(work, 'pglite-paths'), '--model', TINY_MODEL, '--no-backup', '--dry-run', '--master-key', MASTER, '--users', `..,../..,${SHARED_STORES}/user_data/bob,../user_data/${users[0] ?? ''},/etc`, '--report', path.join(work, 'paths.json')]);
    const report = JSON.parse(await readFile(path.join(work, 'paths.json'), 'utf8')) as { stores: { status: string; rowsPlanned: number; error: { code: string } | null }[] };
    // Each requested name is reported as not found; none is read.
    expect(report.stores.length).toBeGreaterThan(0);
    for (const s of report.stores) {
      expect(s.status).not.toBe('ok');
      expect(s.rowsPlanned).toBe(0);
      expect(s.error?.code).toBe('E_USAGE');
    }
  });
});

describe('secrets never appear in logs, reports, ledger rows or error messages', () => {
  const outputs = async (r: CliResult, report: string | null): Promise<Record<string, string>> => ({
    stdout: r.stdout,
    stderr: r.stderr,
    ...(report !== null && existsSync(report) ? { report: await readFile(report, 'utf8') } : {}),
  });

  it('a PGlite run with a master key: stdout, stderr, the report and every ledger row', async () => {
    const secrets = await secretForms();
    expect(secrets.length).toBeGreaterThan(10);
    const dir = path.join(work, 'pglite');
    const report = path.join(work, 'report-pglite.json');
    // One store of a user that does not exist, with a wrong key (E_DECRYPT messages), and a good run.
    const bad = await runCli(['migrate', root, '--pglite-dir', dir, '--table', 'sec_docs', '--model', TINY_MODEL, '--no-backup', '--master-key', `${MASTER}x`, '--report', `${report}.bad`]);
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).toMatch(/E_DECRYPT/);
    const r = await runCli(['migrate', root, '--pglite-dir', dir, '--table', 'sec_docs', '--model', TINY_MODEL, '--no-backup', '--report', report], { env: { ENCRYPTION_MASTER_KEY: MASTER } });
    expect(r.code, r.stderr).not.toBe(2); // the generated tree also holds stores that fail on purpose
    const loaded = JSON.parse(await readFile(report, 'utf8')) as { stores: { status: string; rowsLoaded: number }[] };
    expect(loaded.stores.some((s) => s.rowsLoaded > 0), JSON.stringify(loaded.stores)).toBe(true);
    const all = { ...(await outputs(r, report)), ...Object.fromEntries(Object.entries(await outputs(bad, `${report}.bad`)).map(([k, v]) => [`bad ${k}`, v])) };
    expect(Object.keys(all)).toContain('report');
    const ledger = await withDb({ driver: 'pglite', dir }, async (q) => {
      const tables = await q<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_name LIKE 'migration_%'`);
      const rows: string[] = [];
      for (const { t } of tables) rows.push(...(await q<{ r: string }>(`SELECT x::text AS r FROM "${t}" x`)).map((x) => x.r));
      return rows;
    });
    expect(ledger.length).toBeGreaterThan(0);
    all.ledger = ledger.join('\n');
    for (const [where, text] of Object.entries(all)) expectNoSecret(where, text, secrets);
  });

  it('several candidate keys (repeated --master-key, ENCRYPTION_MASTER_KEYS, --try-default-key): no form of any candidate or derived key anywhere', async () => {
    const other = 'Old-Rotated,Master-Key-9931'; // a raw-string key (comma included) that opens nothing here
    const secrets = [...(await secretForms()), ...forms(other), ...forms(masterKeyBytes(other))];
    for (const user of users) {
      for (const [key, position] of [[other, 1], [MASTER, 2], [undefined, undefined]] as const) {
        const k = await deriveUserKey(user, key, position);
        secrets.push(...forms(k.signingKey), ...forms(k.encryptionKey), ...forms(Buffer.concat([k.signingKey, k.encryptionKey])));
      }
    }
    const dir = path.join(work, 'pglite-rotation');
    const runs: Record<string, string> = {};
    for (const [name, args, env] of [
      ['flags', ['--master-key', other, '--master-key', MASTER, '--try-default-key'], {}],
      ['env', ['--try-default-key'], { ENCRYPTION_MASTER_KEY: `${MASTER}x`, ENCRYPTION_MASTER_KEYS: `Old-Rotated,${MASTER}` }],
      ['wrong', ['--master-key', other, '--master-key', `${MASTER}x`], {}],
    ] as const) {
      const report = path.join(work, `report-rotation-${name}.json`);
      const r = await runCli(['migrate', root, '--pglite-dir', dir, '--table', 'sec_rot', '--embeddings', 'keep', '--no-backup', '--force', '--report', report, ...args], { env });
      expect(r.code, r.stderr).not.toBe(2);
      if (name === 'wrong') expect(r.stdout).toMatch(/candidate keys tried/);
      // From the environment the list is split at commas: MASTER comes third.
      else expect(r.stdout).toMatch(name === 'flags' ? /"key":"master#2"/ : /"key":"master#3"/);
      for (const [where, text] of Object.entries(await outputs(r, report))) runs[`${name} ${where}`] = text;
    }
    runs.ledger = (
      await withDb({ driver: 'pglite', dir }, async (q) => {
        const tables = await q<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_name LIKE 'migration_%'`);
        const rows: string[] = [];
        for (const { t } of tables) rows.push(...(await q<{ r: string }>(`SELECT x::text AS r FROM "${t}" x`)).map((x) => x.r));
        return rows;
      })
    ).join('\n');
    expect(runs.ledger).toMatch(/2 given \(not recorded\)/);
    for (const [where, text] of Object.entries(runs)) expectNoSecret(where, text, secrets);
  });

  it('PostgreSQL with a wrong password: the connect error names the server, not the password', async () => {
    const secrets = await secretForms();
    const url = new URL(TEST_DATABASE_URL);
    url.password = DB_PASSWORD;
    const viaParam = new URL(TEST_DATABASE_URL);
    viaParam.password = '';
    viaParam.searchParams.set('password', DB_PASSWORD);
    for (const [i, target] of [url.toString(), viaParam.toString()].entries()) {
      const report = path.join(work, `report-pg-${i}.json`);
      for (const args of [
        ['migrate', root, '--database-url', target, '--table', 'sec_docs', '--model', TINY_MODEL, '--no-backup', '--master-key', MASTER, '--report', report],
        ['status', '--database-url', target, '--table', 'sec_docs'],
        ['doctor', '--database-url', target, '--table', 'sec_docs', '--json'],
      ]) {
        const r = await runCli(args);
        expect(r.code, `${args[0]}: ${r.stdout}${r.stderr}`).toBe(2);
        expect(r.stdout + r.stderr).toMatch(/E_CONNECT/);
        for (const [where, text] of Object.entries(await outputs(r, report))) expectNoSecret(`${args[0]} ${where}`, text, secrets);
      }
    }
  });
});
