/** The PGlite directory lock on its own: refusal, waiting, stale holders, release. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMigrateError } from '../src/errors.js';
import { lockDirectory, lockPathOf } from '../src/sink/directoryLock.js';

let work: string;
let n = 0;

async function freshDir(): Promise<string> {
  const dir = path.join(work, `d${n++}`, 'pglite');
  await mkdir(path.dirname(dir), { recursive: true });
  return dir;
}

async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

/** The pid of a process that has exited (so no process runs with it, barring reuse). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'pvm-dirlock-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('lockDirectory', () => {
  it('writes the holder beside the directory and refuses a second taker with E_LOCKED naming it', async () => {
    const dir = await freshDir();
    const lock = await lockDirectory(dir, { purpose: 'migrate', wait: false });
    expect(lock?.path).toBe(`${dir}.lock`);
    const holder = JSON.parse(await readFile(`${dir}.lock`, 'utf8')) as Record<string, unknown>;
    expect(holder).toMatchObject({ pid: process.pid, command: 'migrate', host: hostname() });
    expect(existsSync(dir)).toBe(false); // nothing inside (nor the directory itself) is created
    const error = await caught(lockDirectory(dir, { purpose: 'status', wait: false }));
    expect(isMigrateError(error) && error.code).toBe('E_LOCKED');
    expect(error.message).toContain(`the PGlite directory ${dir} is in use by pid ${process.pid} (migrate, since ${String(holder['startedAt'])})`);
    lock?.release();
    expect(existsSync(`${dir}.lock`)).toBe(false);
    lock?.release(); // twice is harmless
    const next = await lockDirectory(dir, { purpose: 'status', wait: false });
    expect(next).not.toBeNull();
    next?.release();
  });

  it('with wait, says so once and takes the lock when the holder releases it', async () => {
    const dir = await freshDir();
    const first = await lockDirectory(dir, { purpose: 'migrate', wait: false });
    const notices: string[] = [];
    let acquired = false;
    const second = lockDirectory(dir, { purpose: 'status', wait: true, pollMs: 10, onWait: (m) => notices.push(m) }).then((l) => {
      acquired = true;
      return l;
    });
    while (notices.length === 0) await new Promise((r) => setTimeout(r, 10));
    expect(acquired).toBe(false);
    expect(notices).toEqual([expect.stringMatching(new RegExp(`^waiting for the PGlite directory ${dir}: in use by pid ${process.pid} \\(migrate, `))]);
    first?.release();
    const lock = await second;
    expect(acquired).toBe(true);
    expect(notices).toHaveLength(1);
    expect(JSON.parse(await readFile(`${dir}.lock`, 'utf8'))).toMatchObject({ command: 'status' });
    lock?.release();
  });

  it("takes over the lock of a pid that no longer runs, and keeps a live holder's", async () => {
    const dir = await freshDir();
    const pid = deadPid();
    await writeFile(lockPathOf(dir), JSON.stringify({ pid, command: 'migrate', startedAt: '2026-01-01T00:00:00.000Z', host: hostname(), token: 'dead' }));
    const lock = await lockDirectory(dir, { purpose: 'status', wait: false });
    expect(JSON.parse(await readFile(lockPathOf(dir), 'utf8'))).toMatchObject({ pid: process.pid, command: 'status' });
    lock?.release();

    // The parent of this test is alive: its lock stands.
    await writeFile(lockPathOf(dir), JSON.stringify({ pid: process.ppid, command: 'migrate', startedAt: '2026-01-01T00:00:00.000Z', host: hostname(), token: 'alive' }));
    const error = await caught(lockDirectory(dir, { purpose: 'status', wait: false }));
    expect(error.message).toContain(`in use by pid ${process.ppid} (migrate, since 2026-01-01T00:00:00.000Z)`);
    // Another host's pid cannot be checked: never taken over.
    await writeFile(lockPathOf(dir), JSON.stringify({ pid, command: 'migrate', startedAt: '2026-01-01T00:00:00.000Z', host: 'elsewhere', token: 'remote' }));
    expect((await caught(lockDirectory(dir, { purpose: 'status', wait: false }))).message).toContain('on elsewhere');
    await rm(lockPathOf(dir));
  });

  it('release leaves a lock that is no longer its own', async () => {
    const dir = await freshDir();
    const lock = await lockDirectory(dir, { purpose: 'migrate', wait: false });
    const other = JSON.stringify({ pid: process.ppid, command: 'migrate', startedAt: 'x', host: hostname(), token: 'other' });
    await writeFile(lockPathOf(dir), other);
    lock?.release();
    expect(await readFile(lockPathOf(dir), 'utf8')).toBe(other);
    await rm(lockPathOf(dir));
  });

  it('refuses a lock path holding something else, and locks nothing under a missing parent', async () => {
    const dir = await freshDir();
    await writeFile(lockPathOf(dir), 'not json');
    const error = await caught(lockDirectory(dir, { purpose: 'migrate', wait: false }));
    expect(isMigrateError(error) && error.code).toBe('E_LOCKED');
    expect(error.message).toContain(`${lockPathOf(dir)} exists but is not a pgvector-migrate lock`);
    expect(await lockDirectory(path.join(work, 'absent', 'pglite'), { purpose: 'status', wait: false })).toBeNull();
    expect(existsSync(path.join(work, 'absent'))).toBe(false);
  });
});
