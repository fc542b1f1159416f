/**
 * A private PostgreSQL instance for fault tests: its own data directory and port, so a test may
 * restart it or kill its sessions without disturbing the shared test server (other test files,
 * other runs). Uses the PostgreSQL 15 binaries and the system-wide pgvector that
 * scripts/setup-postgres.sh installs.
 */
import { execFileSync, type ExecFileSyncOptionsWithStringEncoding } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';

const BIN = process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
const DATABASE = 'faults';

export interface PrivatePg {
  /** postgres://postgres@127.0.0.1:<port>/faults (trust authentication, local only). */
  readonly url: string;
  readonly port: number;
  /** Stops the server: 'fast' ends every session (57P01) and shuts down cleanly; 'immediate' is a crash. */
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  /** The server's log so far (to explain a failure). */
  log(): string;
  /** Stops the server (if running) and removes its data directory. */
  destroy(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` OS
 * user; a test process that is neither cannot start a server and fails (never skips).
 */
function asServerUser(): (cmd: string, args: string[]) => string {
  const me = userInfo().username;
  // cwd '/': the postgres user may not be allowed into the clone (e.g. under /root).
  const options: ExecFileSyncOptionsWithStringEncoding = { encoding: 'utf8', cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] };
  if (me === 'postgres') return (cmd, args) => execFileSync(cmd, args, options);
  if (process.getuid?.() === 0) return (cmd, args) => execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], options);
  throw new Error(`the fault tests start a private PostgreSQL server and must run as root or as the postgres OS user (running as ${me}); run them in .ci/run or with sudo`);
}

export async function startPrivatePg(): Promise<PrivatePg> {
  if (!existsSync(path.join(BIN, 'initdb'))) {
    throw new Error(`PostgreSQL binaries not found in ${BIN}: run scripts/setup-postgres.sh first (or set PG_BIN_DIR)`);
  }
  const run = asServerUser();
  const dir = await mkdtemp(path.join(tmpdir(), 'pvm-private-pg-'));
  if (process.getuid?.() === 0) {
    const pgUser = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const pgGroup = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    await chown(dir, pgUser, pgGroup);
  }
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const port = await freePort();
  run(path.join(BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  // The socket goes into the private directory; TCP on 127.0.0.1 only.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off`;
  let running = false;
  const start = () => {
    run(path.join(BIN, 'pg_ctl'), ['-D', data, '-l', logFile, '-o', options, '-w', '-t', '60', 'start']);
    running = true;
  };
  const stop = (mode: 'fast' | 'immediate' = 'fast') => {
    run(path.join(BIN, 'pg_ctl'), ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
    running = false;
  };
  start();
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
  const url = `postgres://postgres@127.0.0.1:${port}/${DATABASE}`;
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await db.query('CREATE EXTENSION vector');
  } finally {
    await db.end();
  }
  return {
    url,
    port,
    stop,
    start,
    log: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
    destroy: async () => {
      if (running) {
        try {
          stop('immediate');
        } catch {
          // Already gone: removing the directory is what matters.
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
