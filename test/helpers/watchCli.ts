/**
 * Runs the built CLI in its own process and hands every JSON line to the test as it arrives, so a
 * fault (a killed connection, a stopped server, SIGKILL) can be injected at a known point.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, REPO } from './cli.js';
import { onJsonLines } from './jsonLines.js';

export interface CliLine {
  type: string;
  userId?: string;
  collection?: string;
  rowsDone?: number;
  rowsTotal?: number;
  store?: { userId: string; collection: string; status: string; rowsLoaded: number; error: { code: string; message: string } | null };
  [key: string]: unknown;
}

export interface Watched {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: CliLine[];
  stderr: string;
  /** Milliseconds from spawn to exit. */
  ms: number;
  /** Milliseconds from spawn to the arrival of each line (same order as `lines`). */
  times: number[];
}

/**
 * `onLine` runs for every progress line, in order; it may be async (the next lines wait for it,
 * the child does not). A child still running after `timeoutMs` is killed and the promise rejects:
 * a hang is a failure, never a slow pass.
 */
export function watchCli(
  args: string[],
  options: {
    env?: Record<string, string>;
    onLine?: (line: CliLine, child: ChildProcess) => void | Promise<void>;
    /** Every chunk of stderr as it arrives, with all of stderr so far. */
    onStderr?: (stderrSoFar: string, child: ChildProcess) => void;
    onSpawn?: (child: ChildProcess) => void;
    timeoutMs?: number;
  } = {},
): Promise<Watched> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
    delete env.DATABASE_URL;
    if (options.env?.ENCRYPTION_MASTER_KEY === undefined) delete env.ENCRYPTION_MASTER_KEY;
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    options.onSpawn?.(child);
    const lines: CliLine[] = [];
    const times: number[] = [];
    let stderr = '';
    let chain: Promise<void> = Promise.resolve();
    let handlerError: unknown = null;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      handlerError ??= new Error(`the CLI did not exit within ${options.timeoutMs ?? 120_000} ms (hang); last lines: ${JSON.stringify(lines.slice(-3))}`);
    }, options.timeoutMs ?? 120_000);
    onJsonLines<CliLine>(child.stdout, (line) => {
      lines.push(line);
      times.push(performance.now() - started);
      const handler = options.onLine;
      if (handler !== undefined) {
        chain = chain.then(() => handler(line, child)).catch((err: unknown) => {
          handlerError ??= err;
        });
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      options.onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      void chain.then(() => (handlerError !== null ? reject(handlerError instanceof Error ? handlerError : new Error(String(handlerError))) : resolve({ code, signal, lines, stderr, ms, times })));
    });
  });
}

/** The store-done reports of a run, by "user/collection". */
export function storesDone(lines: CliLine[]): Map<string, NonNullable<CliLine['store']>> {
  const out = new Map<string, NonNullable<CliLine['store']>>();
  for (const l of lines) if (l.type === 'store-done' && l.store !== undefined) out.set(`${l.store.userId}/${l.store.collection}`, l.store);
  return out;
}
