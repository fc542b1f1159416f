/**
 * Rows written by applications (the original app's INSERT names none of the provenance columns):
 * tables made before the columns were nullable get them made nullable by ensureSchema, on the
 * documents table, `<table>_previous` and every partition; and a store's replacement never
 * deletes them. pg and PGlite alike.
 */
import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { previousTable, resolveTable } from '../src/sink/identifiers.js';
import { DRIVERS, inBatches, makeRows, quoted, uniqueTable, useHarness, vectorFor, type Harness } from './helpers/db.js';

const DIMS = 4;
const PROVENANCE = ['content_sha256', 'embedding_model', 'source_index'];
/** The original app's write (../shared/CLIENTS.md), its %s as $n. */
const APP_INSERT = (table: string) => `INSERT INTO ${quoted(table)} (id, user_id, collection_name, text, embedding, metadata)
VALUES ($1, $2, $3, $4, $5::vector, $6::jsonb)`;

/** The documents table as an earlier version created it: provenance columns NOT NULL. */
const OLD_COLUMNS = `id uuid NOT NULL, user_id varchar(255) NOT NULL, collection_name varchar(255) NOT NULL, text text NOT NULL,
  embedding vector(${DIMS}) NOT NULL, metadata jsonb DEFAULT '{}', created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(),
  content_sha256 char(64) NOT NULL, embedding_model text NOT NULL, source_index integer NOT NULL, pca_model_id uuid, embedding_fingerprint text`;

async function notNull(h: Harness, relation: string): Promise<Record<string, boolean>> {
  const rows = await h.query<{ name: string; not_null: boolean }>(
    `SELECT attname::text AS name, attnotnull AS not_null FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = ANY($2::text[])`,
    [relation, PROVENANCE],
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.not_null]));
}

function appInsert(h: Harness, table: string, userId: string, text: string, embedding = '[1,0,0,0]'): Promise<unknown> {
  return h.query(APP_INSERT(table), [randomUUID(), userId, 'notes', text, embedding, JSON.stringify({ text, timestamp: '2026-12-01T12:00:00' })]);
}

describe.each(DRIVERS)('application rows (%s)', (driver) => {
  const ctx = useHarness(driver);

  it('ensureSchema makes the provenance columns of an older table, its _previous and its partitions nullable', async () => {
    const table = ctx.track(uniqueTable('app_old'));
    const previous = previousTable(resolveTable(table)).quoted;
    await ctx.h.query('CREATE EXTENSION IF NOT EXISTS vector');
    await ctx.h.query(`CREATE TABLE ${quoted(table)} (${OLD_COLUMNS}, PRIMARY KEY (id, user_id)) PARTITION BY HASH (user_id)`);
    for (const r of [0, 1]) await ctx.h.query(`CREATE TABLE ${quoted(`${table}_p${r}`)} PARTITION OF ${quoted(table)} FOR VALUES WITH (MODULUS 2, REMAINDER ${r})`);
    await ctx.h.query(`CREATE TABLE ${previous} (${OLD_COLUMNS.replace(" DEFAULT '{}'", '').replaceAll(' DEFAULT now()', '')},
      replaced_by_run uuid NOT NULL, replaced_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (replaced_by_run, id))`);
    const all = { content_sha256: true, embedding_model: true, source_index: true };
    expect(await notNull(ctx.h, `"${table}_p1"`)).toEqual(all);
    await expect(appInsert(ctx.h, table, 'alice', 'refused before')).rejects.toThrow(/null value in column/);

    await ctx.h.sink.schema.ensureSchema({ table, dimensions: DIMS });
    const none = { content_sha256: false, embedding_model: false, source_index: false };
    for (const relation of [quoted(table), quoted(`${table}_p0`), quoted(`${table}_p1`), previous]) expect(await notNull(ctx.h, relation)).toEqual(none);
    await ctx.h.sink.schema.ensureSchema({ table, dimensions: DIMS });
    await appInsert(ctx.h, table, 'alice', 'accepted now');
    expect(await ctx.h.query(`SELECT text, source_index FROM ${quoted(table)}`)).toEqual([{ text: 'accepted now', source_index: null }]);
  });

  it("a store's replacement deletes only the tool's rows, with and without a run id", async () => {
    const table = ctx.track(uniqueTable('app_replace'));
    const target = { table, dimensions: DIMS };
    await ctx.h.sink.schema.ensureSchema(target);
    const key = { userId: 'alice', collection: 'notes' };
    await ctx.h.sink.loads.replaceStore(target, key, inBatches(makeRows('alice', 'notes', 3, DIMS), 2));
    await appInsert(ctx.h, table, 'alice', 'written by the app');
    const before = await ctx.h.query(`SELECT id::text, created_at::text, embedding::text FROM ${quoted(table)} WHERE source_index IS NULL`);
    const again = await ctx.h.sink.loads.replaceStore(target, key, inBatches(makeRows('alice', 'notes', 2, DIMS), 2));
    expect(again).toEqual({ rowsLoaded: 2, rowsReplaced: 3 });
    const runId = randomUUID();
    await ctx.h.sink.ledger.startRun({ id: runId, toolVersion: 'test', options: {} }, target);
    expect(await ctx.h.sink.loads.replaceStore(target, key, inBatches(makeRows('alice', 'notes', 4, DIMS), 2), { runId })).toEqual({ rowsLoaded: 4, rowsReplaced: 2 });
    expect(await ctx.h.query(`SELECT id::text, created_at::text, embedding::text FROM ${quoted(table)} WHERE source_index IS NULL`)).toEqual(before);
    // _previous holds only the tool's rows it replaced; rollback puts them back and keeps the app row.
    expect(await ctx.h.query(`SELECT count(*)::int AS n FROM ${previousTable(resolveTable(table)).quoted}`)).toEqual([{ n: 2 }]);
    expect(await ctx.h.sink.rollback.rollbackStore(target, key, runId)).toEqual({ restored: 2, removed: 4 });
    expect(await ctx.h.query(`SELECT id::text, created_at::text, embedding::text FROM ${quoted(table)} WHERE source_index IS NULL`)).toEqual(before);
    expect(await ctx.h.sink.reads.applicationRows(target)).toEqual([{ userId: 'alice', collection: 'notes', rows: 1 }]);
  });

  it('doctor counts application rows apart: no fingerprint group, no norm check, but duplicates by their text', async () => {
    const table = ctx.track(uniqueTable('app_doctor'));
    const target = { table, dimensions: DIMS };
    await ctx.h.sink.schema.ensureSchema(target);
    const fingerprint = '{"model":"m","normalized":true}';
    const rows = makeRows('alice', 'notes', 2, DIMS).map((r) => ({
      ...r,
      embedding: Float32Array.from([0, 1, 0, 0]),
      contentSha256: createHash('sha256').update(r.text).digest('hex'),
      embeddingFingerprint: fingerprint,
    }));
    await ctx.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(rows, 2));
    // Un-normalized, as the original app stores x[:2000]; one repeats a tool row's text.
    await appInsert(ctx.h, table, 'alice', 'a note of its own', '[3,0,0,0]');
    await appInsert(ctx.h, table, 'alice', rows[0]!.text, '[0,0,2,0]');
    const d = await ctx.h.sink.reads.diagnose(target);
    expect(d).toMatchObject({ rows: 4, applicationRows: 2, fingerprints: [{ fingerprint, rows: 2 }], nonNormalized: { rows: 0 } });
    expect(d.duplicateTexts).toMatchObject({ groups: 1, rows: 2, examples: [{ userId: 'alice', contentSha256: rows[0]!.contentSha256, rows: 2 }] });
  });

  it('reembed re-embeds application rows like the others and keeps them application rows', async () => {
    const table = ctx.track(uniqueTable('app_reemb'));
    const side = ctx.track(`${table}_reembed`);
    const target = { table, dimensions: DIMS };
    await ctx.h.sink.schema.ensureSchema(target);
    await ctx.h.sink.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(makeRows('alice', 'notes', 3, DIMS), 3));
    await appInsert(ctx.h, table, 'alice', 'written by the app');
    const r = ctx.h.sink.reembedding({ table });
    await ctx.h.sink.schema.ensureSchema({ table: side, dimensions: 6 }, { deferSearchIndex: true });
    const job = await r.start({ id: randomUUID(), model: 'new', serializedSpace: '{"model":"new"}', dimensions: 6, vectorType: 'vector', distance: 'cosine', pcaModelId: null, options: {} });
    const pending = await r.pending(job, { limit: 10 });
    expect(pending.map((p) => p.contentSha256 === null)).toEqual(pending.map((p) => p.text === 'written by the app'));
    expect(await r.write(job, pending.map((p, i) => ({ id: p.id, text: p.text, embedding: vectorFor(i + 1, 6) })))).toBe(4);
    ctx.track((await r.swap(job, async () => [])).previousTable);
    const rows = await ctx.h.query<{ text: string; source_index: number | null; d: number; fp: string }>(
      `SELECT text, source_index, vector_dims(embedding) AS d, embedding_fingerprint AS fp FROM ${quoted(table)} ORDER BY source_index NULLS FIRST`,
    );
    expect(rows.map((x) => [x.text, x.source_index, x.d, x.fp])).toEqual([
      ['written by the app', null, 6, '{"model":"new"}'],
      ...makeRows('alice', 'notes', 3, DIMS).map((m) => [m.text, m.sourceIndex, 6, '{"model":"new"}']),
    ]);
    expect(await ctx.h.sink.reads.applicationRows({ table })).toEqual([{ userId: 'alice', collection: 'notes', rows: 1 }]);
  });
});
