/**
 * executeStore is what a queue worker runs: one store of a plan, against the real database
 * (PostgreSQL and PGlite). Its failures come back in the outcome, never as a throw.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMigrateConfig, executeStore, keptSpace, openRun, parseSpace, planMigration, serializeSpace } from '../src/index.js';
import { DRIVERS, uniqueTable, useHarness } from './helpers/db.js';
import { SHARED_STORES } from './helpers/paths.js';

const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;

describe.each(DRIVERS)('executeStore (%s)', (driver) => {
  const ctx = useHarness(driver);
  let root = '';
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'pvm-exec-'));
    await cp(path.join(SHARED_STORES, 'user_data', 'alice_example_com'), path.join(root, 'alice_example_com'), { recursive: true });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const count = async (table: string, collection: string) =>
    Number((await ctx.h.query<{ n: string }>(`SELECT count(*) AS n FROM "${table}" WHERE collection_name = $1`, [collection]))[0]?.n);

  it('loads one planned store in its own transaction and reports it; a store broken since planning fails in its outcome', async () => {
    const table = ctx.track(uniqueTable('exec'));
    const config = buildMigrateConfig(root, { embeddings: 'keep', backup: false, table }, { ENCRYPTION_MASTER_KEY: MASTER_KEY }, process.cwd(), new Date());
    const plan = await planMigration(config, { sink: ctx.h.sink, embedder: null });
    // A worker's loads belong to a started run: the table exists and the ledger knows the run id.
    await openRun(plan, ctx.h.sink, { schemaReady: false, runStarted: false });
    const byName = (c: string) => plan.stores.find((s) => s.store.collection === c);
    const notes = byName('notes');
    const assistant = byName('personal_assistant');
    if (notes === undefined || assistant === undefined) throw new Error('the plan lacks a store');

    const progress: number[] = [];
    const done = await executeStore(plan, notes, { loads: ctx.h.sink.loads, vectorizer: plan.vectorizer, space: plan.space, observe: (e) => e.type === 'store-progress' && progress.push(e.rowsDone) });
    expect(done.report).toMatchObject({ userId: 'alice_example_com', collection: 'notes', status: 'ok', rowsLoaded: 12, error: null });
    expect(progress.at(-1)).toBe(12);
    expect(await count(table, 'notes')).toBe(12);
    // The plan is not changed by executing it.
    expect(notes.report.rowsLoaded).toBe(0);
    // The plan computed the run's space once; every row carries exactly its serialization.
    expect(plan.space).toEqual(keptSpace(config.keptLabel, plan.target.dimensions, 'vector'));
    const stored = await ctx.h.query<{ f: string }>(`SELECT DISTINCT embedding_fingerprint AS f FROM "${table}"`);
    expect(stored.map((r) => r.f)).toEqual([serializeSpace(plan.space)]);
    expect(parseSpace(stored[0]?.f ?? null)).toEqual(plan.space);

    // The source changed after planning: the outcome says so, the table keeps nothing of it.
    await writeFile(path.join(assistant.store.dir, 'metadata.json'), 'not a token');
    const broken = await executeStore(plan, assistant, { loads: ctx.h.sink.loads, vectorizer: plan.vectorizer, space: plan.space });
    expect(broken.report.status).toBe('failed');
    expect(broken.report.error?.code).toMatch(/^E_/);
    expect(broken.report.rowsLoaded).toBe(0);
    expect(await count(table, 'personal_assistant')).toBe(0);
  });
});
