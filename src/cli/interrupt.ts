import type { RunReport } from '../run/report.js';
import type { Output } from './render.js';

export type SignalName = 'SIGINT' | 'SIGTERM';

/** 128 + the signal's number, as shells report a process a signal ended. */
export const SIGNAL_EXIT_CODES: Readonly<Record<SignalName, number>> = { SIGINT: 130, SIGTERM: 143 };

/** The part of `process` that signal handling needs (injected, so the CLI owns no global state). */
export interface ProcessSignals {
  on(signal: SignalName, listener: () => void): unknown;
  off(signal: SignalName, listener: () => void): unknown;
  exit(code: number): void;
}

export function signalExitCode(reason: string): number | null {
  return reason === 'SIGINT' || reason === 'SIGTERM' ? SIGNAL_EXIT_CODES[reason] : null;
}

/**
 * Runs `fn` with an AbortSignal that the first SIGINT/SIGTERM aborts (reason: the signal's name):
 * the run stops after the store being written. A second signal exits at once with the first
 * one's code; the store being written is then rolled back by the database (its transaction never
 * commits). Without `signals` (a library caller), the default signal behaviour stays.
 */
export async function withInterrupts<T>(signals: ProcessSignals | undefined, stderr: Output, fn: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
  if (signals === undefined) return fn(undefined);
  const controller = new AbortController();
  const clear = stderr.isTTY === true ? '\r\x1b[2K' : '';
  const listeners = (['SIGINT', 'SIGTERM'] as const).map((name) => {
    const listener = () => {
      if (!controller.signal.aborted) {
        stderr.write(`${clear}${name}: stopping after the store being written (no new store starts; the report is written). Send it again to abort at once (that store rolls back).\n`);
        controller.abort(name);
        return;
      }
      stderr.write(`${clear}${name} again: aborting now; the store being written rolls back, and the ledger keeps this run as running.\n`);
      signals.exit(SIGNAL_EXIT_CODES[controller.signal.reason as SignalName]);
    };
    signals.on(name, listener);
    return [name, listener] as const;
  });
  try {
    return await fn(controller.signal);
  } finally {
    for (const [name, listener] of listeners) signals.off(name, listener);
  }
}

/** What an interrupted run printed last: what happened and what to run next. */
export function interruptedMessage(report: RunReport): string {
  const i = report.interrupted;
  if (i === undefined) return '';
  const loaded = report.totals.ok + report.totals.unchanged;
  const retry = report.totals.failed > 0 ? `; --retry-failed re-runs only the ${report.totals.failed} failed store(s)` : '';
  return `interrupted (${i.reason}): run ${report.runId} is recorded as interrupted; ${loaded} store(s) loaded or unchanged, ${i.storesNotStarted} not started. Run the same command again to finish: stores already loaded are unchanged and skipped${retry}.\n`;
}
