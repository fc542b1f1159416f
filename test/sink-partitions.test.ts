/**
 * Hash partitions on user_id (TargetSpec.partitions): the same data gives the same rows and the
 * same search results as a plain table, each partition has its own HNSW index, one user's
 * replacement touches one partition only, and an existing table's layout is never changed.
 * pg and PGlite alike (PGlite has declarative partitioning and pgvector's HNSW too).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DocumentRow, Sink, TargetSpec } from '../src/sink/types.js';
import { countByStore, DRIVERS, expectMigrateError, inBatches, makeRows, quoted, uniqueTable, useHarness, vectorFor, type Harness } from './helpers/db.js';

const DIMS = 8;
const PARTITIONS = 4;
/** Enough users that every one of the 4 partitions gets some (checked below). */
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];

/** Per user: a `notes` store of 3-5 rows; per user a distinct text so no two rows are equal. */
function storesOf(users: readonly string[]): { key: { userId: string; collection: string }; rows: DocumentRow[] }[] {
  return users.map((userId, i) => ({ key: { userId, collection: 'notes' }, rows: makeRows(userId, 'notes', 3 + (i % 3), DIMS) }));
}

async function loadAll(sink: Sink, target: TargetSpec): Promise<void> {
  for (const { key, rows } of storesOf(USERS)) await sink.loads.replaceStore(target, key, inBatches(rows, 2));
}

/** Every column that a load determines (not created_at/updated_at), in a stable order. */
async function contentOf(h: Harness, table: string): Promise<Record<string, unknown>[]> {
  return h.query(
    `SELECT id::text, user_id, collection_name, text, embedding::text AS embedding, metadata::text AS metadata, content_sha256, embedding_model, source_index, pca_model_id::text, embedding_fingerprint
       FROM ${quoted(table)} ORDER BY user_id, collection_name, source_index`,
  );
}

/** The partition each user's rows are in. */
async function partitionOfUsers(h: Harness, table: string): Promise<Record<string, string>> {
  const rows = await h.query<{ user_id: string; part: string }>(`SELECT DISTINCT user_id, tableoid::regclass::text AS part FROM ${quoted(table)}`);
  return Object.fromEntries(rows.map((r) => [r.user_id, r.part]));
}

/** Physical identity (ctid, xmin) of every row, by partition: a write to a partition changes it. */
async function physicalRows(h: Harness, table: string): Promise<Record<string, string[]>> {
  const rows = await h.query<{ part: string; ident: string }>(`SELECT tableoid::regclass::text AS part, ctid::text || '@' || xmin::text AS ident FROM ${quoted(table)} ORDER BY 1, 2`);
  const out: Record<string, string[]> = {};
  for (const r of rows) (out[r.part] ??= []).push(r.ident);
  return out;
}

describe.each(DRIVERS)('hash partitions (%s)', (driver) => {
  const ctx = useHarness(driver);

  function target(name: string, partitions?: number): TargetSpec {
    return { table: ctx.track(uniqueTable(name)), dimensions: DIMS, ...(partitions === undefined ? {} : { partitions }) };
  }

  it('creates N hash partitions on user_id, each with its own HNSW index and the (id, user_id) key', async () => {
    const t = target('part_shape', PARTITIONS);
    await ctx.h.sink.schema.ensureSchema(t);
    await ctx.h.sink.schema.ensureSchema(t);
    expect(await ctx.h.sink.schema.inspect(t)).toMatchObject({ tableExists: true, tablePartitions: PARTITIONS, tableRls: false, tableDimensions: DIMS });
    const parts = await ctx.h.query<{ name: string; bound: string }>(
      `SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1) ORDER BY 1`,
      [quoted(t.table)],
    );
    expect(parts).toEqual([0, 1, 2, 3].map((r) => ({ name: `${t.table}_p${r}`, bound: `FOR VALUES WITH (modulus ${PARTITIONS}, remainder ${r})` })));
    const [key] = await ctx.h.query<{ key: string }>(`SELECT pg_get_partkeydef(to_regclass($1)) AS key`, [quoted(t.table)]);
    expect(key?.key).toBe('HASH (user_id)');
    for (const p of parts) {
      const indexes = await ctx.h.query<{ def: string }>(`SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indrelid = to_regclass($1) ORDER BY 1`, [quoted(p.name)]);
      const defs = indexes.map((i) => i.def).join('\n');
      // Each partition's own graph, over its own rows only.
      expect(defs).toMatch(new RegExp(`ON public\\.${p.name} USING hnsw \\(embedding vector_cosine_ops\\)`));
      expect(defs).toMatch(/UNIQUE INDEX .* \(id, user_id\)/);
      expect(defs).toMatch(/\(user_id, collection_name\)/);
    }
    // A plain table reports no partitions.
    const plain = target('part_plain');
    await ctx.h.sink.schema.ensureSchema(plain);
    expect((await ctx.h.sink.schema.inspect(plain)).tablePartitions).toBeNull();
  });

  it('the same data gives identical rows and identical search results as a plain table', async () => {
    const plain = target('part_same_plain');
    const parted = target('part_same_parted', PARTITIONS);
    for (const t of [plain, parted]) {
      await ctx.h.sink.schema.ensureSchema(t);
      await loadAll(ctx.h.sink, t);
    }
    // Every partition holds some users (the comparison covers cross-partition reads).
    expect(new Set(Object.values(await partitionOfUsers(ctx.h, parted.table))).size).toBe(PARTITIONS);
    expect(await contentOf(ctx.h, parted.table)).toEqual(await contentOf(ctx.h, plain.table));
    expect(await ctx.h.sink.reads.listStoreKeys(parted)).toEqual(await ctx.h.sink.reads.listStoreKeys(plain));
    for (const [i, userId] of USERS.entries()) {
      for (const k of [1, 3, 10]) {
        const query = { userId, embedding: vectorFor(7000 + i * 13 + k, DIMS), k };
        const a = await ctx.h.sink.reads.search(plain, query);
        const b = await ctx.h.sink.reads.search(parted, query);
        expect(b).toEqual(a);
        expect(a.length).toBe(Math.min(k, 3 + (i % 3)));
      }
    }
    const ids = storesOf(USERS).flatMap((s) => s.rows.map((r) => r.id));
    expect(await ctx.h.sink.reads.readRowsByIds(parted, ids)).toEqual(await ctx.h.sink.reads.readRowsByIds(plain, ids));
    const diagnosis = await ctx.h.sink.reads.diagnose(parted);
    expect({ ...diagnosis, table: '' }).toEqual({ ...(await ctx.h.sink.reads.diagnose(plain)), table: '' });
  });

  it("one user's replacement writes only that user's partition", async () => {
    const t = target('part_touch', PARTITIONS);
    await ctx.h.sink.schema.ensureSchema(t);
    await loadAll(ctx.h.sink, t);
    const owners = await partitionOfUsers(ctx.h, t.table);
    const mine = owners['alice'] as string;
    const before = await physicalRows(ctx.h, t.table);
    const statsBefore = await tupleStats(ctx.h, t.table);

    const replacement = makeRows('alice', 'notes', 6, DIMS).map((r) => ({ ...r, text: `${r.text} v2` }));
    const locked = await ctx.h.sink.transaction(t, async (session) => {
      await session.loads.replaceStore(t, { userId: 'alice', collection: 'notes' }, inBatches(replacement, 2));
      // pg: the transaction's locks, seen from the harness's own connection before the commit.
      // (PGlite has one connection, held by this transaction: its stats are compared below.)
      return driver === 'pg' ? lockedPartitions(ctx.h, t.table) : null;
    });
    if (locked !== null) expect(locked).toEqual([mine]);

    const after = await physicalRows(ctx.h, t.table);
    for (const part of Object.keys(before)) {
      if (part === mine) expect(after[part]).not.toEqual(before[part]);
      else expect(after[part], `${part} must not be written`).toEqual(before[part]);
    }
    if (driver === 'pglite') {
      const statsAfter = await tupleStats(ctx.h, t.table);
      const changed = Object.keys(statsAfter).filter((p) => statsAfter[p] !== statsBefore[p]);
      expect(changed).toEqual([mine]);
      expect(statsAfter[mine]).not.toBe(statsBefore[mine]);
    }
    expect((await countByStore(ctx.h, t.table))['alice/notes']).toBe(6);
  });

  it('rollback, kept rows and embedding reuse work on a partitioned table', async () => {
    const t = target('part_rollback', PARTITIONS);
    const sink = ctx.h.sink;
    await sink.schema.ensureSchema(t);
    await loadAll(sink, t);
    const before = await contentOf(ctx.h, t.table);
    const runId = randomUUID();
    await sink.ledger.startRun({ id: runId, toolVersion: 'test', options: {} }, t);
    const replacement = makeRows('bob', 'notes', 2, DIMS).map((r) => ({ ...r, text: `${r.text} v2` }));
    expect(await sink.loads.replaceStore(t, { userId: 'bob', collection: 'notes' }, inBatches(replacement, 2), { runId })).toEqual({ rowsLoaded: 2, rowsReplaced: 4 });
    // Re-running the same rows (same ids) over them: the (id, user_id) key holds.
    expect(await sink.loads.replaceStore(t, { userId: 'bob', collection: 'notes' }, inBatches(replacement, 2), { runId })).toEqual({ rowsLoaded: 2, rowsReplaced: 2 });
    const first = replacement[0] as DocumentRow;
    const reused = await sink.reads.lookupEmbeddings(t, { userId: 'bob', collection: 'notes' }, [first.contentSha256], { embeddingModel: first.embeddingModel, pcaModelId: null });
    expect(reused.size).toBe(1);
    expect(await sink.rollback.storesReplacedBy(t, runId)).toEqual([{ userId: 'bob', collection: 'notes' }]);
    expect(await sink.rollback.rollbackStore(t, { userId: 'bob', collection: 'notes' }, runId)).toEqual({ restored: 4, removed: 2 });
    expect(await contentOf(ctx.h, t.table)).toEqual(before);
    await sink.ledger.finishRun(runId, 'succeeded', t);
  });

  it('keeps an existing layout: no --partitions loads any table, a different layout is refused with nothing changed', async () => {
    const parted = target('part_keep', PARTITIONS);
    await ctx.h.sink.schema.ensureSchema(parted);
    // A later run without partitions: same table, still partitioned, loads as before.
    const later: TargetSpec = { table: parted.table, dimensions: DIMS };
    await ctx.h.sink.schema.ensureSchema(later);
    await ctx.h.sink.loads.replaceStore(later, { userId: 'alice', collection: 'notes' }, inBatches(makeRows('alice', 'notes', 2, DIMS), 2));
    expect(await ctx.h.sink.schema.inspect(later)).toMatchObject({ tablePartitions: PARTITIONS });

    const other = { ...later, partitions: 8 };
    await expectMigrateError(ctx.h.sink.schema.ensureSchema(other), 'E_SCHEMA', `already exists with ${PARTITIONS} hash partitions on user_id, not 8`, 'drop --partitions');
    await expectMigrateError(ctx.h.sink.schema.inspect(other), 'E_SCHEMA', 'not 8');

    const plain = target('part_plain_keep');
    await ctx.h.sink.schema.ensureSchema(plain);
    await ctx.h.sink.loads.replaceStore(plain, { userId: 'bob', collection: 'notes' }, inBatches(makeRows('bob', 'notes', 2, DIMS), 2));
    const asked = { ...plain, partitions: PARTITIONS };
    await expectMigrateError(ctx.h.sink.schema.ensureSchema(asked), 'E_SCHEMA', `already exists with no partitions, not ${PARTITIONS}`, 'new --table');
    await expectMigrateError(ctx.h.sink.schema.inspect(asked), 'E_SCHEMA', 'no partitions');
    // Nothing was re-created: still plain, rows intact, no partition tables.
    expect((await ctx.h.sink.schema.inspect(plain)).tablePartitions).toBeNull();
    expect(await countByStore(ctx.h, plain.table)).toEqual({ 'bob/notes': 2 });
    expect(await ctx.h.query(`SELECT 1 FROM pg_class WHERE relname = $1`, [`${plain.table}_p0`])).toEqual([]);
    expect((await countByStore(ctx.h, parted.table))['alice/notes']).toBe(2);
  });

  it('refuses a partition count out of range', async () => {
    for (const partitions of [0, 1, 257, 2.5]) {
      await expectMigrateError(ctx.h.sink.schema.ensureSchema(target('part_bad', partitions)), 'E_USAGE', 'partition count');
    }
  });

  it('partitions and row-level security together: the policy on the parent isolates users', async () => {
    const t = { ...target('part_rls', PARTITIONS), rls: true };
    await ctx.h.sink.schema.ensureSchema(t);
    await loadAll(ctx.h.sink, t);
    expect(await ctx.h.sink.schema.inspect(t)).toMatchObject({ tablePartitions: PARTITIONS, tableRls: true });
    const role = `part_app_${randomUUID().slice(0, 8)}`;
    await ctx.h.query(`CREATE ROLE "${role}" NOLOGIN`);
    try {
      await ctx.h.query(`GRANT SELECT ON ${quoted(t.table)} TO "${role}"`);
      await ctx.h.query('BEGIN');
      try {
        await ctx.h.query(`SET LOCAL ROLE "${role}"`);
        await ctx.h.query('SET LOCAL row_security = on');
        await ctx.h.query(`SELECT set_config('app.user_id', 'carol', true)`);
        expect(await ctx.h.query(`SELECT DISTINCT user_id FROM ${quoted(t.table)}`)).toEqual([{ user_id: 'carol' }]);
      } finally {
        await ctx.h.query('ROLLBACK');
      }
    } finally {
      await ctx.h.query(`DROP OWNED BY "${role}"`);
      await ctx.h.query(`DROP ROLE "${role}"`);
    }
  });
});

/** Partitions of `table` on which another session (the sink's transaction) holds a write lock. */
async function lockedPartitions(h: Harness, table: string): Promise<string[]> {
  const rows = await h.query<{ part: string }>(
    `SELECT DISTINCT l.relation::regclass::text AS part
       FROM pg_locks l JOIN pg_inherits i ON i.inhrelid = l.relation
      WHERE i.inhparent = to_regclass($1) AND l.pid <> pg_backend_pid() AND l.granted
      ORDER BY 1`,
    [quoted(table)],
  );
  return rows.map((r) => r.part);
}

/** PGlite: inserted + deleted tuples per partition (its single backend flushes stats on demand). */
async function tupleStats(h: Harness, table: string): Promise<Record<string, string>> {
  if (h.driver !== 'pglite') return {};
  await h.query('SELECT pg_stat_force_next_flush()');
  await h.query('SELECT 1');
  const rows = await h.query<{ part: string; n: string }>(
    `SELECT s.relid::regclass::text AS part, s.n_tup_ins || '/' || s.n_tup_del AS n
       FROM pg_stat_user_tables s JOIN pg_inherits i ON i.inhrelid = s.relid
      WHERE i.inhparent = to_regclass($1)`,
    [quoted(table)],
  );
  return Object.fromEntries(rows.map((r) => [r.part, r.n]));
}
