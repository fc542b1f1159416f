/**
 * The library's AbortSignal (RunDependencies.signal), on real PostgreSQL and PGlite: a batch job
 * that aborts a run gets it stopped between stores, the ledger run 'interrupted', and a report
 * saying which stores were not started.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildMigrateConfig } from '../src/config.js';
import { runMigration } from '../src/run/migrate.js';
import type { RunEvent } from '../src/run/events.js';
import { DRIVERS, uniqueTable, useHarness } from './helpers/db.js';
import { SHARED_STORES } from './helpers/paths.js';

const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;

describe.each(DRIVERS)('runMigration with an AbortSignal (%s)', (driver) => {
  const ctx = useHarness(driver);
  const config = (table: string) =>
    buildMigrateConfig(path.join(SHARED_STORES, 'user_data'), { users: 'alice_example_com', embeddings: 'keep', backup: false, table }, { ENCRYPTION_MASTER_KEY: MASTER_KEY }, process.cwd(), new Date());
  const count = async (table: string, collection: string) =>
    Number((await ctx.h.query<{ n: string }>(`SELECT count(*) AS n FROM "${table}" WHERE collection_name = $1`, [collection]))[0]?.n);

  it('finishes the store being written, starts no other, and ends the ledger run as interrupted', async () => {
    const table = ctx.track(uniqueTable('interrupt'));
    const controller = new AbortController();
    const events: RunEvent[] = [];
    const report = await runMigration(config(table), { sink: ctx.h.sink, embedder: null, signal: controller.signal }, (e) => {
      events.push(e);
      // Aborted while the first store is being written: it must still commit whole.
      if (e.type === 'store-start' && e.position === 1) controller.abort('batch job cancelled');
    });
    expect(report.interrupted).toEqual({ reason: 'batch job cancelled', storesNotStarted: 1 });
    expect(report.stores.map((s) => [s.collection, s.status, s.error?.code ?? null])).toEqual([
      ['notes', 'ok', null],
      ['personal_assistant', 'skipped', 'E_INTERRUPTED'],
    ]);
    expect(events.filter((e) => e.type === 'store-start')).toHaveLength(1);
    expect(await count(table, 'notes')).toBe(12);
    expect(await count(table, 'personal_assistant')).toBe(0);
    expect((await ctx.h.sink.ledger.getRun(report.runId, { table }))?.status).toBe('interrupted');
    // Not started is not failed: the ledger has no outcome for it, so a re-run loads it.
    expect((await ctx.h.sink.ledger.latestOutcomes({ table })).map((o) => [o.collection, o.status])).toEqual([['notes', 'ok']]);
    expect(report.warnings.join(' ')).toMatch(/HNSW index .* was not built \(the run was interrupted\)/);

    const rest = await runMigration(config(table), { sink: ctx.h.sink, embedder: null });
    expect(rest.interrupted).toBeUndefined();
    expect(rest.stores.map((s) => [s.collection, s.status])).toEqual([
      ['notes', 'unchanged'],
      ['personal_assistant', 'ok'],
    ]);
    expect(await count(table, 'personal_assistant')).toBe(40);
    expect(await ctx.h.sink.schema.searchIndexState({ table })).toBe('valid');
  });

  it('a signal aborted before the run starts no store, and records the run as interrupted', async () => {
    const table = ctx.track(uniqueTable('interrupt'));
    const report = await runMigration(config(table), { sink: ctx.h.sink, embedder: null, signal: AbortSignal.abort('SIGTERM') });
    expect(report.interrupted).toEqual({ reason: 'SIGTERM', storesNotStarted: 2 });
    expect(report.totals).toMatchObject({ ok: 0, failed: 0, skipped: 2, rowsLoaded: 0 });
    expect(await count(table, 'notes')).toBe(0);
    expect((await ctx.h.sink.ledger.getRun(report.runId, { table }))?.status).toBe('interrupted');
  });
});
