import type { MigrateConfig } from '../config.js';
import { toMigrateError, type ErrorCode } from '../errors.js';
import type { RunEvent, RunObserver } from './events.js';
import type { StoreReport } from './report.js';

/**
 * The report of a run that ended with an error instead of a RunReport (exit 2: the database went
 * away, a schema or usage problem found after the stores were read): the error, and what the run
 * had done until then, so `--report` still tells what happened.
 */
export interface FailedRunReport {
  /** Null when the run failed before it had an id (before run-start). */
  runId: string | null;
  startedAt: string;
  finishedAt: string;
  root: string;
  table: string;
  error: { code: ErrorCode; message: string };
  /** The stores finished (ok, failed, unchanged) before the error. */
  stores: StoreReport[];
  totals: { stores: number; ok: number; failed: number; unchanged: number };
}

/** Watches a run's events, and turns what it saw into a FailedRunReport when the run throws. */
export function failedRunRecorder(config: Pick<MigrateConfig, 'root' | 'table'>, now: () => Date): { observe: RunObserver; report(error: unknown): FailedRunReport } {
  const startedAt = now().toISOString();
  let runId: string | null = null;
  const stores: StoreReport[] = [];
  return {
    observe(event: RunEvent) {
      if (event.type === 'run-start') runId = event.runId;
      if (event.type === 'store-done') stores.push(event.store);
    },
    report(error: unknown) {
      const e = toMigrateError(error, 'E_INTERNAL', 'the run');
      const count = (status: StoreReport['status']) => stores.filter((s) => s.status === status).length;
      return {
        runId,
        startedAt,
        finishedAt: now().toISOString(),
        root: config.root,
        table: config.table,
        error: { code: e.code, message: e.message },
        stores,
        totals: { stores: stores.length, ok: count('ok'), failed: count('failed'), unchanged: count('unchanged') },
      };
    },
  };
}
