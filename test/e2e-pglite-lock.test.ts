/**
 * One process at a time per PGlite directory, with real processes: a second migrate refuses with
 * E_LOCKED naming the first (or waits under --wait) and the table stays exact (a full scan, an
 * index scan and the source agree); `status` during a migrate refuses cleanly, never `Aborted()`;
 * `status` leaves an idle directory byte for byte as it was; a SIGKILLed holder's lock is taken over.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pythonOracle, REPO, runCli, TINY_MODEL, withDb } from './helpers/cli.js';
import { watchCli, type CliLine } from './helpers/watchCli.js';

let work: string;
let root: string;
/** A directory a first migrate loaded: each test works on its own copy. */
let loaded: string;
/** Rows the source holds for the stores that load (Python reads them). */
let sourceRows: number;

const migrateArgs = (dir: string, ...extra: string[]) => ['migrate', root, '--pglite-dir', dir, '--model', TINY_MODEL, '--no-backup', '--json', ...extra];

async function copyOfLoaded(name: string): Promise<string> {
  const dir = path.join(work, name);
  await cp(loaded, dir, { recursive: true });
  return dir;
}

/** Row counts of the table by a sequential scan and by its primary key index: duplicates show as a difference. */
async function scanCounts(dir: string): Promise<{ seq: number; index: number; distinctIds: number }> {
  return withDb({ driver: 'pglite', dir }, async (q) => {
    await q('SET enable_indexscan = off');
    await q('SET enable_bitmapscan = off');
    await q('SET enable_indexonlyscan = off');
    const seq = await q<{ n: number }>('SELECT count(*)::int AS n FROM vector_documents');
    const distinct = await q<{ n: number }>('SELECT count(DISTINCT id)::int AS n FROM vector_documents');
    await q('SET enable_seqscan = off');
    await q('SET enable_indexonlyscan = on');
    await q('SET enable_indexscan = on');
    const plan = await q<{ 'QUERY PLAN': string }>('EXPLAIN SELECT count(*) FROM vector_documents WHERE id IS NOT NULL');
    expect(plan.map((p) => p['QUERY PLAN']).join('\n')).toMatch(/Index/);
    const index = await q<{ n: number }>('SELECT count(*)::int AS n FROM vector_documents WHERE id IS NOT NULL');
    return { seq: seq[0]?.n ?? -1, index: index[0]?.n ?? -1, distinctIds: distinct[0]?.n ?? -1 };
  });
}

/** sha256 of every file under `dir`, by relative path. */
async function hashTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out.set(path.relative(dir, file), createHash('sha256').update(await readFile(file)).digest('hex'));
  }
  return out;
}

const noAbort = (text: string) => expect(text).not.toMatch(/Aborted\(\)|PANIC|\[object Object\]/);

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'pvm-lock-'));
  execFileSync('python3', [path.join(REPO, 'scripts/make_user_data.py'), '--out', path.join(work, 'src'), '--seed', '11', '--users', '2', '--max-entries', '400']);
  root = path.join(work, 'src', 'user_data');
  const expected = JSON.parse(await readFile(path.join(work, 'src', 'expected.json'), 'utf8')) as { stores: { user: string; collection: string; status: string }[] };
  const oracle = pythonOracle(root, null);
  sourceRows = expected.stores
    .filter((s) => s.status === 'ok')
    .map((s) => oracle[`${s.user}/${s.collection}`])
    .reduce((n, read) => n + (read !== undefined && !('error' in read) ? read.texts.filter((t) => t !== null).length : 0), 0);
  expect(sourceRows).toBeGreaterThan(100);
  loaded = path.join(work, 'loaded');
  const first = await watchCli(migrateArgs(loaded), { timeoutMs: 400_000 });
  expect(first.code, first.stderr).toBe(1); // the generated tree holds two stores that must fail
  expect(await scanCounts(loaded)).toEqual({ seq: sourceRows, index: sourceRows, distinctIds: sourceRows });
}, 600_000);

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('two migrate --force on one PGlite directory', () => {
  it('the second refuses at once with E_LOCKED naming the first; the table stays exact', async () => {
    const dir = await copyOfLoaded('two-writers');
    let second: Awaited<ReturnType<typeof runCli>> | null = null;
    let holderPid = 0;
    const first = await watchCli(migrateArgs(dir, '--force'), {
      timeoutMs: 400_000,
      onSpawn: (child) => (holderPid = child.pid ?? 0),
      // The first line comes after the directory was opened, so the first process holds it. It is
      // stopped (SIGSTOP) while the second runs: on a loaded machine the first could otherwise
      // finish before the second has started, and the second would then rightly run.
      onLine: async (line, child) => {
        if (second !== null || line.type !== 'store-progress') return;
        child.kill('SIGSTOP');
        try {
          second = await runCli(migrateArgs(dir, '--force'));
        } finally {
          child.kill('SIGCONT');
        }
      },
    });
    expect(first.code, first.stderr).toBe(1);
    expect(second).not.toBeNull();
    const refused = second as unknown as Awaited<ReturnType<typeof runCli>>;
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`^error E_LOCKED: the PGlite directory ${dir} is in use by pid ${holderPid} \\(migrate, since [0-9T:.Z-]+\\)`, 'm'));
    expect(refused.stderr).toMatch(/--wait/);
    noAbort(refused.stdout + refused.stderr);
    expect(refused.lines.filter((l) => l.type === 'store-start')).toEqual([]);
    expect(existsSync(`${dir}.lock`), 'the lock outlived its holder').toBe(false);
    expect(await scanCounts(dir)).toEqual({ seq: sourceRows, index: sourceRows, distinctIds: sourceRows });
  }, 600_000);

  it('under --wait the second says it waits, runs after the first, and the table stays exact', async () => {
    const dir = await copyOfLoaded('wait');
    let second: Promise<Awaited<ReturnType<typeof watchCli>>> | null = null;
    let firstDoneAt = 0;
    const first = await watchCli(migrateArgs(dir, '--force'), {
      timeoutMs: 400_000,
      // The first is stopped until the second says it waits: otherwise, on a loaded machine, the
      // first could finish before the second starts and there would be nothing to wait for.
      onLine: (line: CliLine, holder) => {
        if (second === null) {
          holder.kill('SIGSTOP');
          let resumed = false;
          const resume = (): void => {
            if (!resumed) holder.kill('SIGCONT');
            resumed = true;
          };
          second = watchCli(migrateArgs(dir, '--force', '--wait'), {
            timeoutMs: 800_000,
            onStderr: (text) => {
              if (/^waiting for the PGlite directory /m.test(text)) resume();
            },
          });
          // Never leave the holder stopped, whatever the second does.
          second.then(resume, resume);
        }
        if (line.type === 'run-done') firstDoneAt = Date.now();
      },
    });
    expect(first.code, first.stderr).toBe(1);
    const waited = await (second as unknown as Promise<Awaited<ReturnType<typeof watchCli>>>);
    expect(waited.code, waited.stderr).toBe(1);
    expect(waited.stderr).toMatch(new RegExp(`^waiting for the PGlite directory ${dir}: in use by pid \\d+ \\(migrate, since `, 'm'));
    noAbort(JSON.stringify(waited.lines) + waited.stderr);
    // It loaded the stores again (--force) once the first had finished.
    const ok = waited.lines.filter((l) => l.type === 'store-done' && l.store?.status === 'ok');
    expect(ok.length).toBeGreaterThan(0);
    expect(firstDoneAt).toBeGreaterThan(0);
    expect(await scanCounts(dir)).toEqual({ seq: sourceRows, index: sourceRows, distinctIds: sourceRows });
  }, 1_200_000);
});

describe('status while a migrate writes the directory', () => {
  it('refuses cleanly with E_LOCKED while the migrate runs, never Aborted(); after it, reads the ledger', async () => {
    const dir = await copyOfLoaded('status-during');
    const calls: { result: Awaited<ReturnType<typeof runCli>>; endedDuringMigrate: boolean }[] = [];
    let migrateRunning = true;
    let loop: Promise<void> | null = null;
    const statusLoop = async () => {
      while (migrateRunning) {
        const result = await runCli(['status', '--pglite-dir', dir, '--json']);
        calls.push({ result, endedDuringMigrate: migrateRunning });
      }
    };
    const first = await watchCli(migrateArgs(dir, '--force', '--batch-size', '2'), {
      timeoutMs: 600_000,
      onLine: (line) => {
        if (line.type === 'store-progress') loop ??= statusLoop();
      },
    });
    migrateRunning = false;
    await loop;
    expect(first.code, first.stderr).toBe(1);
    const during = calls.filter((c) => c.endedDuringMigrate);
    expect(during.length, 'no status call ended while the migrate ran').toBeGreaterThan(0);
    for (const { result } of during) {
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/^error E_LOCKED: the PGlite directory .* is in use by pid \d+ \(migrate, /m);
    }
    // A call overlapping the migrate's end either refused or read the finished state; none aborted.
    for (const { result } of calls) {
      noAbort(result.stdout + result.stderr);
      expect([1, 2]).toContain(result.code);
    }
    const after = await runCli(['status', '--pglite-dir', dir, '--json']);
    noAbort(after.stdout + after.stderr);
    expect(after.code).toBe(1); // the two stores that must fail
    const stores = (after.lines[0]?.['stores'] ?? []) as { status: string }[];
    expect(stores.filter((s) => s.status === 'ok').length).toBeGreaterThan(0);
    expect(await scanCounts(dir)).toEqual({ seq: sourceRows, index: sourceRows, distinctIds: sourceRows });
  }, 900_000);
});

describe('read-only commands on an idle directory', () => {
  it('status, doctor and query leave every file of the directory byte for byte as it was', async () => {
    const dir = await copyOfLoaded('idle');
    const before = await hashTree(dir);
    const status = await runCli(['status', '--pglite-dir', dir, '--json']);
    expect(status.code, status.stderr).toBe(1);
    const doctor = await runCli(['doctor', '--pglite-dir', dir, '--json']);
    expect([0, 1]).toContain(doctor.code);
    noAbort(doctor.stdout + doctor.stderr);
    const query = await runCli(['query', 'garden', '--user', 'user0_example_com', '--pglite-dir', dir, '--model', TINY_MODEL, '--json']);
    expect(query.code, query.stderr).toBe(0);
    const after = await hashTree(dir);
    const changed = [...before.keys()].filter((f) => before.get(f) !== after.get(f));
    expect(changed, 'files the read-only commands rewrote').toEqual([]);
    expect([...after.keys()].filter((f) => !before.has(f)), 'files the read-only commands added').toEqual([]);
    expect(existsSync(`${dir}.lock`)).toBe(false);
  }, 600_000);
});

describe('a holder killed with SIGKILL', () => {
  it('leaves a lock whose dead pid the next command takes over', async () => {
    const dir = await copyOfLoaded('killed');
    const killed = await watchCli(migrateArgs(dir, '--force'), {
      timeoutMs: 400_000,
      onLine: (line, child) => {
        if (line.type === 'store-progress') child.kill('SIGKILL');
      },
    });
    expect(killed.signal).toBe('SIGKILL');
    const lock = JSON.parse(await readFile(`${dir}.lock`, 'utf8')) as { pid: number; command: string };
    expect(lock.command).toBe('migrate');
    const status = await runCli(['status', '--pglite-dir', dir, '--json']);
    noAbort(status.stdout + status.stderr);
    expect(status.code, status.stderr).toBe(1);
    const again = await watchCli(migrateArgs(dir), { timeoutMs: 400_000 });
    expect(again.code, again.stderr).toBe(1);
    expect(existsSync(`${dir}.lock`)).toBe(false);
    expect(await scanCounts(dir)).toEqual({ seq: sourceRows, index: sourceRows, distinctIds: sourceRows });
  }, 900_000);
});
