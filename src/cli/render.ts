import type { RunEvent } from '../run/events.js';
import type { ReembedEvent, ReembedReport } from '../run/reembed.js';
import { describeLayout, type RelayoutEvent, type RelayoutPlan, type RelayoutReport } from '../run/relayout.js';
import type { ReductionReport, RunReport, StoreReport } from '../run/report.js';
import { storeLabel } from '../storeLabel.js';

export interface Output {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** One JSON object per line: stable for scripts, and what a non-TTY gets (CI logs, pipes). */
export function jsonLinesRenderer<E extends object = RunEvent>(out: Output): (event: E) => void {
  return (event) => {
    out.write(`${JSON.stringify({ ...event, at: new Date().toISOString() })}\n`);
  };
}

function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}min`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

/**
 * A one-line progress bar redrawn in place on a TTY. Hand-written (40 lines) because the bar mixes
 * run-level and store-level counts, which single-bar libraries such as cli-progress do not model.
 */
export function progressRenderer(err: Output): (event: RunEvent) => void {
  let stores = 0;
  let done = 0;
  let rowsDone = 0;
  let current = '';
  let storeRows = '';
  const started = performance.now();
  const draw = () => {
    const width = 24;
    const filled = stores === 0 ? width : Math.round((done / stores) * width);
    const rate = rowsDone / Math.max((performance.now() - started) / 1000, 1e-3);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${stores} stores  ${rowsDone} rows  ${rate.toFixed(1)} rows/s  ${current} ${storeRows}`;
    const cols = err.columns ?? 100;
    err.write(`\r\x1b[2K${line.slice(0, cols - 1)}`);
  };
  let rowsBeforeStore = 0;
  return (event) => {
    switch (event.type) {
      case 'run-start':
        stores = event.stores;
        err.write(
          `${event.dryRun ? 'DRY RUN: nothing will be written. ' : ''}${event.stores} stores under ${event.root}, model ${event.model} (${event.dimensions} dims), ${event.database.driver} ${event.database.location}, table ${event.table}\n`,
        );
        break;
      case 'validating':
        err.write(`validating ${event.stores} stores (decoding, decrypting, counting)...\n`);
        return;
      case 'sampling':
        err.write(`sampling up to ${event.sampleSize} vectors across all stores to ${event.method === 'pca' ? 'fit PCA' : 'measure the truncation'}...\n`);
        return;
      case 'reduction':
        if (event.reduction.method !== 'none') err.write(`${describeReduction(event.reduction)}\n`);
        return;
      case 'waiting':
        err.write(`\r\x1b[2K${storeLabel(event)}: ${event.reason}\n`);
        return;
      case 'waiting-table':
        err.write(`\r\x1b[2K${event.table}: ${event.reason}\n`);
        return;
      case 'skipped':
        err.write(`\r\x1b[2Kwarning: skipped ${event.path}: ${event.reason}\n`);
        break;
      case 'store-start':
        current = `${storeLabel(event)}`;
        storeRows = '';
        rowsBeforeStore = rowsDone;
        break;
      case 'store-progress':
        storeRows = `${event.rowsDone}/${event.rowsTotal}`;
        rowsDone = rowsBeforeStore + event.rowsDone;
        break;
      case 'store-done':
        done++;
        rowsDone = rowsBeforeStore + event.store.rowsLoaded + event.store.rowsPlanned + event.store.rowsSkipped;
        // Not `current`: a store refused during validation ends without a store-start of its own.
        if (event.store.status === 'failed') err.write(`\r\x1b[2Kfailed: ${storeLabel(event.store)}: ${event.store.error?.message ?? ''}\n`);
        break;
      case 'estimate-start':
        err.write(`\r\x1b[2Kembedding a sample of ${event.sampleSize} texts to estimate the time...\n`);
        return;
      case 'run-done':
        draw();
        err.write('\n');
        return;
    }
    draw();
  };
}

function describeReduction(r: ReductionReport): string {
  if (r.method === 'none') return `no reduction (${r.targetDimensions} dimensions)`;
  if (r.method === 'halfvec') return `halfvec(${r.targetDimensions}): float16 storage, indexable up to 4000 dimensions`;
  const recall = r.recallAt10 === null ? 'n/a' : r.recallAt10.toFixed(3);
  if (r.method === 'truncate') {
    return `truncate ${r.sourceDimensions} -> ${r.targetDimensions} (first ${r.targetDimensions} numbers, re-normalized): squared norm kept ${(r.explainedVariance * 100).toFixed(1)}%, recall@10 ${recall} on ${r.sampleSize ?? 0} vectors`;
  }
  const how = r.reused ? `reused model ${r.pcaModelId}` : `fitted in ${(r.fitMs / 1000).toFixed(1)} s on ${r.sampleSize} vectors`;
  return `PCA ${r.sourceDimensions} -> ${r.targetDimensions}: ${how}; variance retained ${(r.explainedVariance * 100).toFixed(1)}%, recall@10 ${recall} (${r.evaluation ?? 'n/a'})`;
}

function cell(value: string, width: number): string {
  return value.length > width ? `${value.slice(0, width - 1)}…` : value.padEnd(width);
}

function reasonOf(s: StoreReport): string {
  if (s.error !== null) return `${s.error.code}: ${s.error.message}`;
  const notes = [...s.skippedEntries.map((e) => e.reason), ...s.warnings];
  return notes.length === 0 ? '' : notes.join('; ');
}

/** The table printed at the end of a run: store, status, entries, rows, skipped, reason. */
export function summaryTable(report: RunReport): string {
  const rows = report.stores.map((s) => [
    storeLabel(s),
    s.status,
    s.entries === null ? '-' : String(s.entries),
    String(report.dryRun ? s.rowsPlanned : s.rowsLoaded),
    String(s.rowsSkipped),
    reasonOf(s),
  ]);
  const header = ['store', 'status', 'entries', report.dryRun ? 'rows (planned)' : 'rows', 'skipped', 'reason'];
  const widths = header.map((h, i) => Math.min(i === 0 ? 40 : i === 5 ? 90 : 16, Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))));
  const line = (r: string[]) => r.map((c, i) => cell(c, widths[i] ?? 10)).join('  ').trimEnd();
  const t = report.totals;
  const lines = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), ''];
  lines.push(
    `${t.ok} ok, ${t.failed} failed, ${t.skipped} skipped; ${report.dryRun ? `${t.rowsPlanned} rows would be loaded` : `${t.rowsLoaded} rows loaded`} into ${report.table} (${report.database.driver}), ${t.rowsSkipped} entries skipped`,
  );
  if (report.reduction.method !== 'none') lines.push(`reduction: ${describeReduction(report.reduction)}`);
  for (const note of report.reduction.notes) lines.push(`  note: ${note}`);
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  if (report.estimate !== null && report.estimate.sampleSize > 0) {
    const e = report.estimate;
    lines.push(`estimate: ${e.rowsToEmbed} texts at ${e.docsPerSecond.toFixed(1)} docs/s (sample of ${e.sampleSize}) = about ${fmtDuration(e.estimatedSeconds)} of embedding`);
    const q = e.dtypeQuality;
    if (q !== undefined) lines.push(`dtype ${q.dtype} against ${q.against} on the same ${q.sampleSize} texts: mean cosine ${q.meanCosine.toFixed(4)}, min ${q.minCosine.toFixed(4)}`);
  }
  if (report.dryRun) {
    const d = report.database;
    lines.push(
      `database: ${d.driver} ${d.location}, PostgreSQL ${d.serverVersion}, pgvector ${d.pgvectorVersion ?? 'missing'}; table ${report.table} ${d.tableExists ? `exists (${d.tableDimensions} dims, compatible)` : 'will be created'}${d.willBeCreated ? '; the database will be created' : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `reembed` on a TTY: phases as lines, the embedding passes as a bar with rows, rate and ETA. */
export function reembedProgressRenderer(err: Output): (event: ReembedEvent) => void {
  return (event) => {
    switch (event.type) {
      case 'reembed-start':
        err.write(
          `${event.resumed ? 'resuming' : 'starting'} job ${event.jobId}: ${event.table} -> ${event.sideTable}, model ${event.model} (${event.dimensions} dims); ${event.done}/${event.total} rows done\n`,
        );
        return;
      case 'reembed-phase':
        err.write(`\r\x1b[2K${event.phase}: ${event.detail}\n`);
        return;
      case 'reembed-progress': {
        const width = 24;
        const filled = event.total === 0 ? width : Math.round((event.done / event.total) * width);
        const eta = event.etaSeconds === null ? '?' : fmtDuration(event.etaSeconds);
        const embedding = event.unwritten > 0 ? ` (+${event.unwritten} embedded)` : '';
        const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${event.done}/${event.total} rows${embedding}  ${event.rowsPerSecond.toFixed(1)} rows/s  ETA ${eta}  (${event.phase})`;
        err.write(`\r\x1b[2K${line.slice(0, (err.columns ?? 100) - 1)}`);
        return;
      }
      case 'reembed-done':
        err.write('\n');
        return;
    }
  };
}

/** The lines printed when `reembed` ends. */
export function reembedSummary(report: ReembedReport): string {
  const r = report.rows;
  const lines = [
    `${report.table}: ${r.total} rows; ${r.alreadyDone} already done, ${r.embedded} embedded, ${r.caughtUp} caught up, ${report.rowsPerSecond.toFixed(1)} rows/s`,
    `model ${report.model}: ${report.vectorType}(${report.dimensions})${report.reduction.method === 'pca' ? `, PCA ${report.reduction.sourceDimensions} -> ${report.dimensions} (model ${report.reduction.pcaModelId ?? '?'})` : ''}`,
  ];
  if (report.index !== null) lines.push(`index: ${report.index.built ? `built in ${(report.index.ms / 1000).toFixed(1)} s` : 'already present'}`);
  if (report.verification !== null) lines.push(`verified: ${report.verification.stores} stores counted, ${report.verification.spotChecks} users spot-checked`);
  if (report.swap !== null) {
    lines.push(`swapped: ${report.table} now holds the new vectors; the old table is kept as ${report.swap.previousTable} (reembed --swap-back restores it)`);
  } else if (report.swapDeferred !== null) {
    lines.push(`not swapped: ${report.swapDeferred}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `relayout` on a TTY: phases as lines, the copy passes as a bar with rows, rate and ETA. */
export function relayoutProgressRenderer(err: Output): (event: RelayoutEvent) => void {
  return (event) => {
    switch (event.type) {
      case 'relayout-start':
        err.write(`${event.resumed ? 'resuming' : 'starting'} job ${event.jobId}: ${event.table} (${describeLayout(event.from)}) -> ${event.sideTable} (${describeLayout(event.to)}); ${event.done}/${event.total} rows done\n`);
        return;
      case 'relayout-phase':
        err.write(`\r\x1b[2K${event.phase}: ${event.detail}\n`);
        return;
      case 'relayout-progress': {
        const width = 24;
        const filled = event.total === 0 ? width : Math.min(width, Math.round((event.done / event.total) * width));
        const eta = event.etaSeconds === null ? '?' : fmtDuration(event.etaSeconds);
        const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${event.done}/${event.total} rows  ${event.rowsPerSecond.toFixed(0)} rows/s  ETA ${eta}  (${event.phase})`;
        err.write(`\r\x1b[2K${line.slice(0, (err.columns ?? 100) - 1)}`);
        return;
      }
      case 'relayout-done':
        err.write('\n');
        return;
    }
  };
}

/** The lines printed when `relayout` ends. */
export function relayoutSummary(report: RelayoutReport): string {
  const r = report.rows;
  const lines = [
    `${report.table}: ${describeLayout(report.from)} -> ${describeLayout(report.to)}`,
    `${r.total} rows; ${r.alreadyDone} already copied, ${r.copied} copied, ${r.caughtUp} caught up, ${r.pruned} pruned; ${report.rowsPerSecond.toFixed(0)} rows/s, ${(report.durationMs / 1000).toFixed(1)} s`,
  ];
  const red = report.reduction;
  if (red.method === 'truncate') lines.push(`reduction: truncated ${report.from.dimensions} -> ${report.to.dimensions} (first numbers, re-normalized)`);
  if (red.method === 'pca') lines.push(`reduction: PCA ${report.from.dimensions} -> ${report.to.dimensions}, model ${red.pcaModelId ?? '?'}${red.fitted ? ` fitted on ${red.sampleSize ?? 0} stored vectors` : ''}; the table searches by L2 distance`);
  if (report.index !== null) lines.push(`index: ${report.index.built ? `built in ${(report.index.ms / 1000).toFixed(1)} s` : 'already present'}`);
  if (report.verification !== null) lines.push(`checked: ${report.verification.spotChecks} users spot-checked; ${report.verification.storesBehind} stores behind before the swap (caught up under its lock)`);
  if (report.swap !== null) {
    lines.push(`swapped: ${report.table} has the new layout (${report.swap.caughtUp} rows caught up under the lock); the old table is kept as ${report.swap.previousTable} (relayout --swap-back restores it)`);
  } else if (report.swapDeferred !== null) {
    lines.push(`not swapped: ${report.swapDeferred}`);
  }
  return `${lines.join('\n')}\n`;
}

/** What `relayout --dry-run` prints. */
export function relayoutPlanText(plan: RelayoutPlan): string {
  const mb = (b: number) => `${(b / (1024 * 1024)).toFixed(1)} MB`;
  const s = plan.space;
  const lines = [
    `plan: ${plan.table} (${plan.driver}): ${describeLayout(plan.from)} -> ${describeLayout(plan.to)}${plan.reduction === 'none' ? '' : ` (${plan.reduction === 'pca' ? 'PCA fitted on the stored vectors' : 'truncated'})`}`,
    `rows: ${plan.rows} in ${plan.stores} stores`,
    `space: the table takes ${mb(s.tableBytes)} with its indexes; the new copy needs about ${mb(s.neededBytes)}${s.freeBytes === null ? ' (free space on the server not visible from here)' : `; ${mb(s.freeBytes)} free${s.enough === false ? ' - NOT ENOUGH' : ''}`}`,
  ];
  const e = plan.estimate;
  if (e === null) lines.push('duration: nothing to copy');
  else lines.push(`duration: about ${fmtDuration(e.copySeconds)} of copying and ${fmtDuration(e.indexSeconds)} of index build (${e.method})`);
  lines.push('dry run: nothing was written');
  return `${lines.join('\n')}\n`;
}
