/**
 * The run ledger's rows (sql/migrations/001_ledger.sql) to and from RunRecord / StoreOutcome:
 * checks before writing (so a bad value is refused with a message naming it, not by a CHECK
 * constraint), and conversions of what the drivers return (Date or string timestamps, jsonb as
 * object or text, numbers as number or string).
 */
import { MigrateError } from '../errors.js';
import { isUuid } from './pcaModelRows.js';
import type { RunRecord, StoreOutcome } from './types.js';
import { storeLabel } from '../storeLabel.js';

export type NewRun = Omit<RunRecord, 'finishedAt' | 'status' | 'startedAt'>;
export type RunEnd = Exclude<RunRecord['status'], 'running'>;

const OUTCOME_STATUSES: readonly StoreOutcome['status'][] = ['ok', 'failed', 'unchanged', 'rolled-back'];
const RUN_ENDS: readonly RunEnd[] = ['succeeded', 'failed', 'interrupted'];
const INT32_MAX = 2147483647;

export interface RunRow extends Record<string, unknown> {
  id: string;
  started_at: unknown;
  finished_at: unknown;
  tool_version: string;
  options: unknown;
  status: string;
}

export interface OutcomeRow extends Record<string, unknown> {
  run_id: string;
  user_id: string;
  collection: string;
  status: string;
  entries: unknown;
  rows_loaded: unknown;
  rows_skipped: unknown;
  rows_reused: unknown;
  error_code: string | null;
  error_message: string | null;
  source_sha256: string | null;
  embedding_fingerprint: string;
  backup_path: string | null;
  duration_ms: unknown;
  recorded_at: unknown;
  rolled_back_at: unknown;
}

export function checkRunId(id: string): void {
  if (typeof id !== 'string' || !isUuid(id)) throw new MigrateError('E_USAGE', `run id ${JSON.stringify(id)} is not a UUID`);
}

/** Parameters of queries/run_insert.sql. */
export function runParams(run: NewRun): unknown[] {
  checkRunId(run.id);
  if (typeof run.toolVersion !== 'string' || run.toolVersion === '') throw new MigrateError('E_USAGE', 'the run needs a tool version');
  if (typeof run.options !== 'object' || run.options === null || Array.isArray(run.options)) {
    throw new MigrateError('E_USAGE', 'the run options must be a JSON object');
  }
  return [run.id, run.toolVersion, JSON.stringify(run.options)];
}

export function checkRunEnd(status: string): RunEnd {
  if (!(RUN_ENDS as readonly string[]).includes(status)) throw new MigrateError('E_USAGE', `a run ends as ${RUN_ENDS.join(' or ')}, not ${JSON.stringify(status)}`);
  return status as RunEnd;
}

export function runFromRow(row: RunRow): RunRecord {
  const options = typeof row.options === 'string' ? (JSON.parse(row.options) as unknown) : row.options;
  return {
    id: row.id,
    startedAt: isoTime(row.started_at) as string,
    finishedAt: isoTime(row.finished_at),
    toolVersion: row.tool_version,
    options: typeof options === 'object' && options !== null && !Array.isArray(options) ? (options as Record<string, unknown>) : {},
    status: row.status as RunRecord['status'],
  };
}

/** Parameters of queries/store_outcome_insert.sql ($2: the table's unqualified name). */
export function outcomeParams(outcome: StoreOutcome, tableName: string): unknown[] {
  checkRunId(outcome.runId);
  const fail = (detail: string): never => {
    throw new MigrateError('E_USAGE', `cannot record the outcome of ${storeLabel(outcome)}: ${detail}`);
  };
  if (!OUTCOME_STATUSES.includes(outcome.status)) fail(`status ${JSON.stringify(outcome.status)} is not one of ${OUTCOME_STATUSES.join(', ')}`);
  const counts: [string, number | null][] = [
    ['entries', outcome.entries],
    ['rowsLoaded', outcome.rowsLoaded],
    ['rowsSkipped', outcome.rowsSkipped],
    ['rowsReused', outcome.rowsReused],
  ];
  for (const [name, value] of counts) {
    if (value === null && name === 'entries') continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > INT32_MAX) fail(`${name} ${String(value)} is not a count`);
  }
  if (typeof outcome.durationMs !== 'number' || !Number.isFinite(outcome.durationMs) || outcome.durationMs < 0) fail(`durationMs ${String(outcome.durationMs)} is not a duration`);
  if (typeof outcome.embeddingModel !== 'string') fail('embeddingModel is missing');
  return [
    outcome.runId,
    tableName,
    outcome.userId,
    outcome.collection,
    outcome.status,
    outcome.entries,
    outcome.rowsLoaded,
    outcome.rowsSkipped,
    outcome.rowsReused,
    outcome.errorCode,
    outcome.errorMessage,
    outcome.sourceSha256,
    outcome.embeddingModel,
    outcome.backupPath,
    outcome.durationMs,
  ];
}

/** An outcome as read back, `table` as the caller named it. */
export function outcomeFromRow(row: OutcomeRow, table: string): StoreOutcome {
  return {
    runId: row.run_id,
    table,
    userId: row.user_id,
    collection: row.collection,
    status: row.status as StoreOutcome['status'],
    entries: row.entries === null ? null : Number(row.entries),
    rowsLoaded: Number(row.rows_loaded),
    rowsSkipped: Number(row.rows_skipped),
    rowsReused: Number(row.rows_reused),
    errorCode: row.error_code,
    errorMessage: row.error_message,
    sourceSha256: row.source_sha256,
    embeddingModel: row.embedding_fingerprint,
    backupPath: row.backup_path,
    durationMs: Number(row.duration_ms),
    recordedAt: isoTime(row.recorded_at) as string,
    rolledBackAt: isoTime(row.rolled_back_at),
  };
}

/** ISO 8601 (millisecond precision) of a timestamptz as a driver returns it; null stays null. */
export function isoTime(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  const parsed = new Date(String(value));
  return Number.isNaN(parsed.getTime()) ? String(value) : parsed.toISOString();
}
