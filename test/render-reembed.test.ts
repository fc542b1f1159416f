/** What `reembed` prints: a progress bar on a terminal, JSON lines elsewhere, and a closing summary. */
import { describe, expect, it } from 'vitest';
import { jsonLinesRenderer, reembedProgressRenderer, reembedSummary } from '../src/cli/render.js';
import type { ReembedEvent, ReembedReport } from '../src/run/reembed.js';

function sink(): { out: { write(s: string): void; isTTY: boolean; columns: number }; text: () => string } {
  let buffer = '';
  return { out: { write: (s: string) => void (buffer += s), isTTY: true, columns: 200 }, text: () => buffer };
}

const report: ReembedReport = {
  table: 'docs',
  sideTable: 'docs_reembed',
  jobId: 'job-1',
  model: 'new-model',
  fingerprint: '{}',
  dimensions: 48,
  vectorType: 'vector',
  reduction: { method: 'none', sourceDimensions: 48, pcaModelId: null, fitted: false },
  resumed: true,
  rows: { total: 100, alreadyDone: 40, embedded: 58, caughtUp: 2, pruned: 1 },
  index: { built: true, ms: 1500 },
  verification: { stores: 3, spotChecks: 2 },
  swap: { previousTable: 'docs_prev_20261121120000', caughtUp: 0, pruned: 0, synced: 1 },
  swapDeferred: null,
  durationMs: 2000,
  rowsPerSecond: 30,
};

describe('reembed output', () => {
  it('draws rows done / total, the rate and the ETA on a terminal', () => {
    const s = sink();
    const render = reembedProgressRenderer(s.out);
    const events: ReembedEvent[] = [
      { type: 'reembed-start', table: 'docs', sideTable: 'docs_reembed', jobId: 'job-1', model: 'new-model', dimensions: 48, resumed: true, total: 100, done: 40 },
      { type: 'reembed-progress', phase: 'embedding', done: 70, unwritten: 0, total: 100, rowsPerSecond: 15, etaSeconds: 2 },
    ];
    for (const e of events) render(e);
    expect(s.text()).toContain('resuming job job-1: docs -> docs_reembed');
    expect(s.text()).toContain('40/100 rows done');
    expect(s.text()).toMatch(/\[#{17}\.{7}\] 70\/100 rows {2}15\.0 rows\/s {2}ETA 2s/);
    // Rows embedded but not yet written are shown beside the bar, which counts durable rows only.
    render({ type: 'reembed-progress', phase: 'embedding', done: 70, unwritten: 12, total: 100, rowsPerSecond: 15, etaSeconds: 1 });
    expect(s.text()).toMatch(/\[#{17}\.{7}\] 70\/100 rows \(\+12 embedded\) {2}15\.0 rows\/s {2}ETA 1s/);
  });

  it('ends with what was done and where the old table is', () => {
    const text = reembedSummary(report);
    expect(text).toContain('40 already done, 58 embedded, 2 caught up');
    expect(text).toContain('old table is kept as docs_prev_20261121120000');
    expect(reembedSummary({ ...report, swap: null, swapDeferred: '--no-swap: complete' })).toContain('not swapped: --no-swap: complete');
  });

  it('writes one JSON object per event elsewhere', () => {
    const s = sink();
    jsonLinesRenderer<ReembedEvent>(s.out)({ type: 'reembed-done', report });
    const line = JSON.parse(s.text().trim()) as { type: string; report: ReembedReport; at: string };
    expect(line).toMatchObject({ type: 'reembed-done', report: { rows: { total: 100 } } });
    expect(Number.isNaN(Date.parse(line.at))).toBe(false);
  });
});
