import type { DatabaseConfig } from '../config.js';
import type { RunRecord, SearchIndexState, StoreOutcome } from '../sink/types.js';
import { withSink } from './resources.js';

export interface StatusConfig {
  database: DatabaseConfig;
  table: string;
  userId: string | null;
}

/** A store's latest outcome, with the rows the table holds from its last load. */
export interface StoreStatus extends StoreOutcome {
  /**
   * Rows of its last successful load: rowsLoaded for 'ok', the load an 'unchanged' outcome
   * skipped over for 'unchanged' (whose own rowsLoaded is 0), 0 otherwise.
   */
  rows: number;
}

export interface StatusResult {
  stores: StoreStatus[];
  /**
   * Runs whose outcomes are among the latest and that did not end: 'interrupted' (stopped by a
   * signal) or 'running' (still going, or killed before it could close its run).
   */
  unfinishedRuns: RunRecord[];
  /** The table's HNSW index ('missing'/'invalid': searches scan until a migrate builds it), null without a table. */
  searchIndex: SearchIndexState;
}

/** The latest outcome of every store the ledger knows (optionally one user's), failed ones first. */
export function runStatus(config: StatusConfig): Promise<StatusResult> {
  return withSink(config.database, { readOnly: true, purpose: 'status' }, async (sink) => {
    const outcomes = await sink.ledger.latestOutcomes({ table: config.table, ...(config.userId === null ? {} : { userId: config.userId }) });
    const rank = (o: StoreOutcome) => (o.status === 'failed' ? 0 : 1);
    const sorted = [...outcomes].sort((a, b) => rank(a) - rank(b) || a.userId.localeCompare(b.userId) || a.collection.localeCompare(b.collection));
    const stores: StoreStatus[] = [];
    for (const o of sorted) {
      const rows = o.status === 'ok' ? o.rowsLoaded : o.status === 'unchanged' ? ((await sink.ledger.lastSuccessfulLoad(config.table, o))?.rowsLoaded ?? 0) : 0;
      stores.push({ ...o, rows });
    }
    const unfinishedRuns: RunRecord[] = [];
    for (const runId of new Set(outcomes.map((o) => o.runId))) {
      const run = await sink.ledger.getRun(runId, { table: config.table });
      if (run !== null && (run.status === 'interrupted' || run.status === 'running')) unfinishedRuns.push(run);
    }
    const searchIndex = outcomes.length === 0 ? null : await sink.schema.searchIndexState({ table: config.table });
    return { stores, unfinishedRuns, searchIndex };
  });
}

/** What `status` prints after the stores about runs that did not end and about the search index. */
export function statusNotes(result: StatusResult): string[] {
  const notes = result.unfinishedRuns.map((run) =>
    run.status === 'interrupted'
      ? `run ${run.id} (started ${run.startedAt}) was interrupted: run the same migrate again to finish it (loaded stores are unchanged and skipped)`
      : `run ${run.id} (started ${run.startedAt}) is still running, or its process died before it could end it: if no migrate is running, run it again`,
  );
  if (result.searchIndex === 'missing' || result.searchIndex === 'invalid') {
    notes.push(`the HNSW search index is ${result.searchIndex}: searches are correct but scan the table; the next migrate builds it`);
  }
  return notes;
}

/** What the table's latest run read: a root, or a table (README "From a pgvector table"). */
export type RecordedSource = { kind: 'root'; root: string } | { kind: 'table'; table: string; map: string; database: string };

/** The source the table's latest run read, so `verify` needs no arguments after a migration. */
export function sourceFromLedger(database: DatabaseConfig, table: string): Promise<RecordedSource | null> {
  return withSink(database, { readOnly: true, purpose: 'verify (finding the source)' }, async (sink) => {
    for (const o of await sink.ledger.latestOutcomes({ table })) {
      const options = (await sink.ledger.getRun(o.runId, { table }))?.options;
      const fromTable = options?.['fromTable'];
      if (typeof fromTable === 'object' && fromTable !== null) {
        const { table: t, map, database: where } = fromTable as Record<string, unknown>;
        if (typeof t === 'string' && typeof map === 'string' && typeof where === 'string') return { kind: 'table', table: t, map, database: where };
      }
      const root = options?.['root'];
      if (typeof root === 'string' && root !== '') return { kind: 'root', root };
    }
    return null;
  });
}
