/**
 * Planning and reporting in process: `planMigration` reads the database only through the
 * repository interface it is given, so plain objects stand in for it here (a unit test of the
 * decisions, not of SQL); `reportOf` is a pure function of a plan and the stores' outcomes.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildMigrateConfig, type MigrateFlags } from '../src/config.js';
import { isMigrateError } from '../src/errors.js';
import type { RunEvent } from '../src/run/events.js';
import type { StoreOutcome } from '../src/run/executeStore.js';
import { planMigration, type PlanningReads } from '../src/run/plan.js';
import { reportOf } from '../src/run/runReport.js';
import { emptyStoreReport } from '../src/run/storeReports.js';
import type { DatabaseInfo, StoreOutcome as LedgerOutcome } from '../src/sink/types.js';
import { keptSpace, truncatedSpace } from '../src/transform/embeddingSpace.js';
import { SHARED_STORES } from './helpers/paths.js';

const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const ROOT = path.join(SHARED_STORES, 'user_data');

const config = (flags: MigrateFlags = {}) => buildMigrateConfig(ROOT, { embeddings: 'keep', backup: false, table: 'plan_docs', ...flags }, { ENCRYPTION_MASTER_KEY: MASTER_KEY }, process.cwd(), new Date('2026-01-02T03:04:05Z'));

function database(table: Partial<DatabaseInfo> = {}): DatabaseInfo {
  return {
    driver: 'pglite',
    location: 'memory://plan',
    serverVersion: '17.5',
    pgvectorVersion: '0.8.0',
    pgvectorInstalled: true,
    tableExists: false,
    tableDimensions: null,
    tableVectorType: null,
    activePcaModelId: null,
    tablePartitions: null,
    tableRls: false,
    willBeCreated: false,
    searchIndex: null,
    ...table,
  };
}

/** The reads planning makes, answered from memory; it has no method that writes. */
interface FakeAnswers {
  info?: DatabaseInfo;
  latest?: LedgerOutcome[];
  applicationRows?: { userId: string; collection: string; rows: number }[];
}

function fakeReads(answers: FakeAnswers = {}): PlanningReads & { inspected: unknown[] } {
  const inspected: unknown[] = [];
  return {
    inspected,
    ledger: { latestOutcomes: async () => answers.latest ?? [] },
    pcaModels: { active: async () => null },
    schema: {
      inspect: async (t) => {
        inspected.push(t);
        return answers.info ?? database();
      },
    },
    reads: { applicationRows: async () => answers.applicationRows ?? [], listStoreKeys: async () => [], embeddingFingerprints: async () => [] },
  };
}

const label = (s: { userId: string; collection: string }) => `${s.userId}/${s.collection}`;

function outcome(partial: Partial<StoreOutcome['report']> & { userId: string; collection: string }, times = { vectorizeMs: 0, loadMs: 0 }): StoreOutcome {
  const store = { userId: partial.userId, collection: partial.collection, dir: '', vectorsPath: null, metadataPath: null };
  return { report: { ...emptyStoreReport(store), vectors: 1, entries: 1, storedDimensions: 384, ...partial }, ...times, sample: [] };
}

describe('planMigration (fake repositories)', () => {
  it('keeps the stores of the majority dimension and fails the others before anything is written', async () => {
    const events: RunEvent[] = [];
    const reads = fakeReads();
    const plan = await planMigration(config(), { sink: reads, embedder: null, observe: (e) => events.push(e) });

    expect(plan.stores.map((s) => label(s.store)).sort()).toEqual(['alice_example_com/notes', 'alice_example_com/personal_assistant', 'frank/personal_assistant', 'grace/personal_assistant', 'judy/empty']);
    expect(Object.fromEntries(plan.failed.map((r) => [label(r), r.error?.code]))).toEqual({
      'bob/personal_assistant': 'E_DIM_MISMATCH',
      'carol_corp/personal_assistant': 'E_DIM_MISMATCH',
      'dave/personal_assistant': 'E_COUNT_MISMATCH',
      'erin/personal_assistant': 'E_DECRYPT',
      'heidi/personal_assistant': 'E_MISSING_FILE',
      'ivan/personal_assistant': 'E_UNSAFE_PICKLE',
    });
    expect(plan.skipped.map((r) => [r.path, r.status])).toEqual([['not a valid id', 'skipped']]);
    expect(plan.target).toMatchObject({ table: 'plan_docs', dimensions: 384, vectorType: 'vector', distance: 'cosine' });
    expect(plan.reduction).toMatchObject({ method: 'none', sourceDimensions: 384, targetDimensions: 384 });
    expect(plan.pca).toEqual({ kind: 'none' });
    expect(plan.vectorizer).toMatchObject({ label: 'stored', needsStoredVectors: true });
    expect(plan).toMatchObject({ refit: false, reuseStored: false, deferIndex: true });
    // Validated stores carry what validation found, for execution and the report.
    const notes = plan.stores.find((s) => s.store.collection === 'notes');
    expect(notes?.report).toMatchObject({ entries: 12, vectors: 12, storedDimensions: 384, status: 'ok' });
    expect(notes?.report.sourceSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(events.map((e) => e.type)).toEqual(['validating']);
    expect(reads.inspected).toEqual([{ table: 'plan_docs', dimensions: 1 }]);
    expect(Object.isFrozen(plan) && Object.isFrozen(plan.stores) && Object.isFrozen(plan.failed)).toBe(true);
  });

  it('follows the dimension of the existing table, and indexes at the end only when its index is not valid', async () => {
    const info = database({ tableExists: true, tableDimensions: 768, tableVectorType: 'vector', searchIndex: 'valid' });
    const plan = await planMigration(config(), { sink: fakeReads({ info }), embedder: null });
    // judy/empty has no vectors, so no dimension to disagree with.
    expect(plan.stores.map((s) => label(s.store))).toEqual(['bob/personal_assistant', 'judy/empty']);
    expect(plan.target.dimensions).toBe(768);
    expect(plan.failed.find((r) => label(r) === 'alice_example_com/notes')?.error?.code).toBe('E_DIM_MISMATCH');
    expect(plan.deferIndex).toBe(false);
  });

  it('--retry-failed plans only the stores whose latest outcome failed, and reports those gone as skipped', async () => {
    const failedOutcome = (userId: string, collection: string): LedgerOutcome => ({
      runId: 'r1', table: 'plan_docs', userId, collection, status: 'failed', entries: 1, rowsLoaded: 0, rowsSkipped: 0, rowsReused: 0,
      errorCode: 'E_LOAD', errorMessage: 'x', sourceSha256: null, embeddingModel: '{}', backupPath: null, durationMs: 1,
    });
    const reads = fakeReads({ latest: [failedOutcome('alice_example_com', 'notes'), failedOutcome('zoe', 'gone')] });
    const plan = await planMigration(config({ retryFailed: true }), { sink: reads, embedder: null });
    expect(plan.stores.map((s) => label(s.store))).toEqual(['alice_example_com/notes']);
    expect(plan.failed).toEqual([]);
    expect(plan.skipped.filter((r) => r.error?.code === 'E_USAGE').map(label)).toEqual(['zoe/gone']);
    expect(plan.latest.get('alice_example_com/notes')?.status).toBe('failed');
  });

  it('refuses a --refit-pca that cannot rewrite every row of the table, with a coded error', async () => {
    const reads = fakeReads({ applicationRows: [{ userId: 'app', collection: 'c', rows: 3 }] });
    const err = await planMigration(config({ users: 'alice_example_com', reduce: 'pca', dimensions: '8', refitPca: true }), { sink: reads, embedder: null }).catch((e: unknown) => e);
    expect(isMigrateError(err) && err.code).toBe('E_USAGE');
    expect((err as Error).message).toMatch(/3 rows were written by applications \(app\/c: 3\)/);
  });

  it('computes the embedding space once: the kept vectors, truncated in the plan, a PCA model bound only once it is saved', async () => {
    const kept = await planMigration(config({ users: 'alice_example_com' }), { sink: fakeReads(), embedder: null });
    expect(kept.space).toEqual(keptSpace(kept.config.keptLabel, 384, 'vector'));
    const truncated = await planMigration(config({ users: 'alice_example_com', reduce: 'truncate', dimensions: '8' }), { sink: fakeReads(), embedder: null });
    expect(truncated.space).toEqual(truncatedSpace(keptSpace(truncated.config.keptLabel, 384, 'vector'), 8));
    expect(truncated.vectorizer.dimensions).toBe(8);
    const pca = await planMigration(config({ users: 'alice_example_com', reduce: 'pca', dimensions: '8' }), { sink: fakeReads(), embedder: null });
    try {
      expect(pca.pca.kind).toBe('save');
      expect(pca.space).toEqual(keptSpace(pca.config.keptLabel, 384, 'vector'));
    } finally {
      if (pca.pca.kind !== 'none') await pca.pca.projector.dispose();
    }
  });

  it('throws a coded error when re-embedding has no model', async () => {
    const err = await planMigration(config({ embeddings: 'reembed' }), { sink: fakeReads(), embedder: null }).catch((e: unknown) => e);
    expect(isMigrateError(err) && err.code).toBe('E_CONFIG');
  });
});

describe('reportOf (pure)', () => {
  it('is the plan and the outcomes: stores sorted by path, totals summed, the run end added', async () => {
    const plan = await planMigration(config({ users: 'alice_example_com,dave' }), { sink: fakeReads(), embedder: null, now: () => new Date('2026-01-02T03:04:05Z') });
    const outcomes = [
      outcome({ userId: 'alice_example_com', collection: 'personal_assistant', rowsLoaded: 40, rowsReused: 2 }, { vectorizeMs: 1.4, loadMs: 10.2 }),
      outcome({ userId: 'alice_example_com', collection: 'notes', status: 'unchanged', rowsSkipped: 1 }, { vectorizeMs: 0.4, loadMs: 0.4 }),
    ];
    const finishedAt = new Date('2026-01-02T03:05:00Z');
    const report = reportOf(plan, outcomes, { finishedAt, pcaModelId: null, estimate: null, warnings: ['index w'], interruptedBy: null });
    expect(report.stores.map((s) => [label(s), s.status])).toEqual([
      ['alice_example_com/notes', 'unchanged'],
      ['alice_example_com/personal_assistant', 'ok'],
      ['dave/personal_assistant', 'failed'],
    ]);
    expect(report.totals).toEqual({ stores: 3, ok: 1, failed: 1, skipped: 0, unchanged: 1, rowsReused: 2, rowsLoaded: 40, rowsPlanned: 0, rowsSkipped: 1, vectorizeMs: 2, loadMs: 11 });
    expect(report).toMatchObject({ runId: plan.runId, startedAt: '2026-01-02T03:04:05.000Z', finishedAt: '2026-01-02T03:05:00.000Z', table: 'plan_docs', model: 'stored', embeddings: 'keep', dimensions: 384, warnings: ['index w'] });
    expect(report.interrupted).toBeUndefined();
    expect(report.searchIndex).toBeUndefined();
    // The same inputs give the same report.
    expect(reportOf(plan, outcomes, { finishedAt, pcaModelId: null, estimate: null, warnings: ['index w'], interruptedBy: null })).toEqual(report);
  });

  it('counts the stores an interruption left unstarted, and names the PCA model once saved', async () => {
    const plan = await planMigration(config({ users: 'alice_example_com' }), { sink: fakeReads(), embedder: null });
    const message = 'not started: the run was interrupted (SIGTERM); run it again to load this store';
    const outcomes = [
      outcome({ userId: 'alice_example_com', collection: 'notes', rowsLoaded: 12 }),
      outcome({ userId: 'alice_example_com', collection: 'personal_assistant', status: 'skipped', error: { code: 'E_INTERRUPTED', message } }),
    ];
    const report = reportOf(plan, outcomes, { finishedAt: new Date(), pcaModelId: 'm-1', estimate: null, warnings: [], searchIndex: { built: true, ms: 5 }, interruptedBy: 'SIGTERM' });
    expect(report.interrupted).toEqual({ reason: 'SIGTERM', storesNotStarted: 1 });
    expect(report.reduction.pcaModelId).toBe('m-1');
    expect(report.searchIndex).toEqual({ built: true, ms: 5 });
    expect(report.totals).toMatchObject({ ok: 1, skipped: 1, rowsLoaded: 12 });
  });
});
