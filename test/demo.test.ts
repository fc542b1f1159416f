/**
 * `npm run demo` (scripts/demo.mjs): what a newcomer sees first. It must end 0 with a plain success
 * message when every store of the shared data set ends as its CASES.json says (four of them are
 * deliberate bad inputs that must fail), and 1 naming the store when one does not.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progressRenderer } from '../src/cli/render.js';
import type { StoreReport } from '../src/run/report.js';
import { REPO, SHARED_STORES } from './helpers/paths.js';

const DEMO = path.join(REPO, 'scripts/demo.mjs');

function runDemo(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [DEMO, ...args], { cwd: REPO, encoding: 'utf8', env: { ...process.env, DATABASE_URL: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm run demo', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pgvm-demo-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('ends 0 and says the four failing stores are the data set deliberate bad inputs', async () => {
    const r = runDemo(['--dir', dir]);
    expect(r.stderr).not.toContain('[object Object]');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('demo: success. Every one of the 12 stores ended as');
    expect(r.stdout).toContain('The 4 failed stores are the data set');
    for (const code of ['E_COUNT_MISMATCH', 'E_DECRYPT', 'E_MISSING_FILE', 'E_UNSAFE_PICKLE']) expect(r.stdout).toContain(code);
    const report = JSON.parse(await readFile(path.join(dir, 'demo-report.json'), 'utf8')) as { stores: StoreReport[] };
    expect(report.stores.filter((s) => s.status === 'ok')).toHaveLength(7);
  });

  it('a second run finds the good stores unchanged and still succeeds', () => {
    const r = runDemo(['--dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('demo: success.');
  });

  it('ends 1 naming the store when an outcome differs from the expected one', async () => {
    const cases = JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { cases: { user: string; expect: string }[] };
    const dave = cases.cases.find((c) => c.user === 'dave');
    if (dave === undefined) throw new Error('CASES.json has no dave');
    dave.expect = 'ok: pretend this store should load';
    const altered = path.join(dir, 'CASES.json');
    await writeFile(altered, JSON.stringify(cases));
    const r = runDemo(['--dir', dir, '--cases', altered]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/1 store\(s\) did NOT end as CASES\.json expects:\n {2}dave\/personal_assistant: expected ok/);
    expect(r.stdout).not.toContain('demo: success');
  });
});

describe('progress renderer', () => {
  it('names a store that failed validation (it ends without a store-start of its own)', () => {
    let written = '';
    const render = progressRenderer({ write: (s: string) => (written += s), isTTY: true, columns: 200 });
    const store = { userId: 'dave', collection: 'personal_assistant', status: 'failed', error: { code: 'E_COUNT_MISMATCH', message: 'five vectors, six entries' } } as StoreReport;
    render({ type: 'store-done', store });
    expect(written).toContain('failed: dave/personal_assistant: five vectors, six entries');
  });
});
