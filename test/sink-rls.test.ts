/**
 * Row-level security (TargetSpec.rls, Sink.enableRls): an ordinary role sees and writes only the
 * rows of the user named in app.user_id, while the tool (a role that bypasses RLS) keeps working
 * across users. pg and PGlite alike; roles are cluster-wide on pg, hence unique names, dropped
 * after each test.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { openSink } from '../src/sink/index.js';
import type { Sink, TargetSpec } from '../src/sink/types.js';
import { countByStore, DRIVERS, expectMigrateError, inBatches, makeRow, makeRows, quoted, TEST_DATABASE_URL, uniqueTable, useHarness } from './helpers/db.js';

const DIMS = 8;

function uniqueRole(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** Loads alice (2 rows in notes) and bob (3 rows in notes, 1 in work). */
async function loadTwoUsers(sink: Sink, target: TargetSpec): Promise<void> {
  await sink.loads.replaceStore(target, { userId: 'alice', collection: 'notes' }, inBatches(makeRows('alice', 'notes', 2, DIMS), 10));
  await sink.loads.replaceStore(target, { userId: 'bob', collection: 'notes' }, inBatches(makeRows('bob', 'notes', 3, DIMS), 10));
  await sink.loads.replaceStore(target, { userId: 'bob', collection: 'work' }, inBatches(makeRows('bob', 'work', 1, DIMS), 10));
}

describe.each(DRIVERS)('row-level security (%s)', (driver) => {
  const ctx = useHarness(driver);
  let roles: string[] = [];

  afterEach(async () => {
    // Drop the grants first (DROP OWNED revokes them), then the role.
    for (const role of roles) {
      await ctx.h.query(`DROP OWNED BY "${role}"`);
      await ctx.h.query(`DROP ROLE "${role}"`);
    }
    roles = [];
  });

  /** An ordinary role (no BYPASSRLS, not superuser, not the owner) with the application's grants. */
  async function appRole(table: string): Promise<string> {
    const role = uniqueRole('rls_app');
    await ctx.h.query(`CREATE ROLE "${role}" NOLOGIN NOSUPERUSER NOBYPASSRLS`);
    roles.push(role);
    await ctx.h.query(`GRANT SELECT, INSERT, UPDATE ON ${quoted(table)} TO "${role}"`);
    return role;
  }

  /**
   * Runs `fn` in a transaction as `role`, with app.user_id set as an application does per
   * request (set_config(…, true) = SET LOCAL), or not at all (null); always rolled back.
   * row_security = on: the setting every ordinary session has (PGlite shares the sink's session).
   */
  async function asRole<T>(role: string, userId: string | null, fn: () => Promise<T>): Promise<T> {
    await ctx.h.query('BEGIN');
    try {
      await ctx.h.query(`SET LOCAL ROLE "${role}"`);
      await ctx.h.query('SET LOCAL row_security = on');
      if (userId !== null) await ctx.h.query(`SELECT set_config('app.user_id', $1, true)`, [userId]);
      return await fn();
    } finally {
      await ctx.h.query('ROLLBACK');
    }
  }

  async function failsAsRole(role: string, userId: string, sql: string, params: unknown[] = []): Promise<string> {
    return asRole(role, userId, async () => {
      const error = await ctx.h.query(sql, params).then(
        () => null,
        (e: unknown) => e as { code?: string; message: string },
      );
      expect(error, `${sql} should fail`).not.toBeNull();
      expect(error?.code).toBe('42501');
      return error?.message ?? '';
    });
  }

  function freshTarget(): TargetSpec {
    return { table: ctx.track(uniqueTable('rls_sink')), dimensions: DIMS, rls: true };
  }

  it('ensureSchema with rls enables and forces RLS with the app.user_id policy, idempotently', async () => {
    const target = freshTarget();
    expect((await ctx.h.sink.schema.inspect(target)).tableRls).toBe(false);
    await ctx.h.sink.schema.ensureSchema(target);
    await ctx.h.sink.schema.ensureSchema(target);
    expect(await ctx.h.sink.schema.inspect(target)).toMatchObject({ tableExists: true, tableRls: true, tablePartitions: null });
    const [cls] = await ctx.h.query<{ relrowsecurity: boolean; relforcerowsecurity: boolean }>('SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass($1)', [quoted(target.table)]);
    expect(cls).toEqual({ relrowsecurity: true, relforcerowsecurity: true });
    const policies = await ctx.h.query<{ polname: string; cmd: string; qual: string; check: string }>(
      `SELECT polname::text, polcmd::text AS cmd, pg_get_expr(polqual, polrelid) AS qual, pg_get_expr(polwithcheck, polrelid) AS check FROM pg_policy WHERE polrelid = to_regclass($1)`,
      [quoted(target.table)],
    );
    expect(policies).toHaveLength(1);
    expect(policies[0]).toMatchObject({ polname: 'pgvector_migrate_user_isolation', cmd: '*' });
    expect(policies[0]?.qual).toContain("current_setting('app.user_id'::text, true)");
    expect(policies[0]?.check).toBe(policies[0]?.qual);
  });

  it('an ordinary role with app.user_id = alice reads only her rows and cannot write bob\'s; without the setting it reads nothing', async () => {
    const target = freshTarget();
    await ctx.h.sink.schema.ensureSchema(target);
    await loadTwoUsers(ctx.h.sink, target);
    const table = quoted(target.table);
    const role = await appRole(target.table);

    const seen = await asRole(role, 'alice', () => ctx.h.query<{ user_id: string; n: number }>(`SELECT user_id, count(*)::int AS n FROM ${table} GROUP BY user_id`));
    expect(seen).toEqual([{ user_id: 'alice', n: 2 }]);
    // Even naming bob explicitly finds nothing.
    expect(await asRole(role, 'alice', () => ctx.h.query(`SELECT id FROM ${table} WHERE user_id = 'bob'`))).toEqual([]);

    // INSERT of a bob row: refused by the policy's WITH CHECK.
    const bobRow = makeRow('bob', 'notes', 99, DIMS);
    const insertMessage = await failsAsRole(
      role,
      'alice',
      `INSERT INTO ${table} (id, user_id, collection_name, text, embedding, content_sha256, embedding_model, source_index) VALUES ($1, 'bob', 'notes', 'x', $2, $3, 'm', 99)`,
      [bobRow.id, `[${Array.from(bobRow.embedding).join(',')}]`, 'b'.repeat(64)],
    );
    expect(insertMessage).toMatch(/row-level security/);
    // UPDATE of bob's rows: they are invisible, so nothing changes.
    expect(await asRole(role, 'alice', () => ctx.h.query(`UPDATE ${table} SET text = 'stolen' WHERE user_id = 'bob' RETURNING id`))).toEqual([]);
    // Moving one of her rows to bob: refused too.
    await failsAsRole(role, 'alice', `UPDATE ${table} SET user_id = 'bob' WHERE user_id = 'alice'`);
    // Her own rows she can write.
    expect(await asRole(role, 'alice', () => ctx.h.query(`UPDATE ${table} SET text = text WHERE user_id = 'alice' RETURNING id`))).toHaveLength(2);

    // No setting, or the empty one a pooled connection keeps after a SET LOCAL: nothing.
    expect(await asRole(role, null, () => ctx.h.query(`SELECT id FROM ${table}`))).toEqual([]);
    expect(await asRole(role, '', () => ctx.h.query(`SELECT id FROM ${table}`))).toEqual([]);

    // Nothing of bob's changed (read as the harness's superuser).
    expect(await countByStore(ctx.h, target.table)).toEqual({ 'alice/notes': 2, 'bob/notes': 3, 'bob/work': 1 });
    expect(await ctx.h.query(`SELECT id FROM ${table} WHERE text = 'stolen'`)).toEqual([]);
  });

  it('the tool keeps working across users on an RLS table: loads, reads, search, doctor, rollback', async () => {
    const target = freshTarget();
    const sink = ctx.h.sink;
    await sink.schema.ensureSchema(target);
    await loadTwoUsers(ctx.h.sink, target);
    expect(await sink.reads.listStoreKeys(target)).toEqual([
      { userId: 'alice', collection: 'notes' },
      { userId: 'bob', collection: 'notes' },
      { userId: 'bob', collection: 'work' },
    ]);
    const ids = [...makeRows('alice', 'notes', 2, DIMS), ...makeRows('bob', 'work', 1, DIMS)].map((r) => r.id);
    expect((await sink.reads.readRowsByIds(target, ids)).map((r) => r.userId).sort()).toEqual(['alice', 'alice', 'bob']);
    expect(await sink.reads.readStoreSummaries(target, { userId: 'bob', collection: 'notes' })).toHaveLength(3);
    expect((await sink.reads.diagnose(target)).rows).toBe(6);
    const hits = await sink.reads.search(target, { userId: 'bob', embedding: makeRow('bob', 'notes', 0, DIMS).embedding, k: 2 });
    expect(hits.map((h) => h.userId)).toEqual(['bob', 'bob']);

    // A run replaces bob's notes (keeping the old rows), then is rolled back.
    const runId = randomUUID();
    await sink.ledger.startRun({ id: runId, toolVersion: 'test', options: {} }, target);
    const replacement = makeRows('bob', 'notes', 5, DIMS).map((r) => ({ ...r, text: `${r.text} v2` }));
    expect(await sink.loads.replaceStore(target, { userId: 'bob', collection: 'notes' }, inBatches(replacement, 2), { runId })).toEqual({ rowsLoaded: 5, rowsReplaced: 3 });
    expect(await sink.rollback.storesReplacedBy(target, runId)).toEqual([{ userId: 'bob', collection: 'notes' }]);
    expect(await sink.rollback.rollbackStore(target, { userId: 'bob', collection: 'notes' }, runId)).toEqual({ restored: 3, removed: 5 });
    expect(await countByStore(ctx.h, target.table)).toEqual({ 'alice/notes': 2, 'bob/notes': 3, 'bob/work': 1 });
    await sink.ledger.finishRun(runId, 'succeeded', target);
  });

  it('enableRls secures a table created without it, idempotently, and refuses what is not a documents table', async () => {
    const target: TargetSpec = { table: ctx.track(uniqueTable('rls_later')), dimensions: DIMS };
    await ctx.h.sink.schema.ensureSchema(target);
    await loadTwoUsers(ctx.h.sink, target);
    expect((await ctx.h.sink.schema.inspect(target)).tableRls).toBe(false);
    // Before: an ordinary role reads everything.
    const role = await appRole(target.table);
    expect(await asRole(role, 'alice', () => ctx.h.query(`SELECT id FROM ${quoted(target.table)}`))).toHaveLength(6);

    expect(await ctx.h.sink.schema.enableRls(target)).toEqual({ changed: true });
    expect(await ctx.h.sink.schema.enableRls(target)).toEqual({ changed: false });
    expect((await ctx.h.sink.schema.inspect(target)).tableRls).toBe(true);
    expect(await asRole(role, 'alice', () => ctx.h.query(`SELECT id FROM ${quoted(target.table)}`))).toHaveLength(2);
    expect(await countByStore(ctx.h, target.table)).toEqual({ 'alice/notes': 2, 'bob/notes': 3, 'bob/work': 1 });

    // RLS enabled but not forced (someone's ALTER): enableRls completes it.
    await ctx.h.query(`ALTER TABLE ${quoted(target.table)} NO FORCE ROW LEVEL SECURITY`);
    expect((await ctx.h.sink.schema.inspect(target)).tableRls).toBe(false);
    expect(await ctx.h.sink.schema.enableRls(target)).toEqual({ changed: true });
    expect((await ctx.h.sink.schema.inspect(target)).tableRls).toBe(true);

    await expectMigrateError(ctx.h.sink.schema.enableRls({ table: ctx.track(uniqueTable('rls_missing')) }), 'E_SCHEMA', 'does not exist');
    await expectMigrateError(ctx.h.sink.schema.enableRls({ table: `${target.table}_previous` }), 'E_SCHEMA', 'replaced_by_run');
    await expectMigrateError((await ctx.h.readOnlySink()).schema.enableRls(target), 'E_USAGE', 'read-only');
  });

  it('ensureSchema with rls secures an existing table (a later migrate --rls), keeping its rows', async () => {
    const target = freshTarget();
    await ctx.h.sink.schema.ensureSchema({ table: target.table, dimensions: DIMS });
    await loadTwoUsers(ctx.h.sink, target);
    expect((await ctx.h.sink.schema.inspect(target)).tableRls).toBe(false);
    await ctx.h.sink.schema.ensureSchema(target);
    expect((await ctx.h.sink.schema.inspect(target)).tableRls).toBe(true);
    expect(await countByStore(ctx.h, target.table)).toEqual({ 'alice/notes': 2, 'bob/notes': 3, 'bob/work': 1 });
    const role = await appRole(target.table);
    expect(await asRole(role, 'bob', () => ctx.h.query(`SELECT id FROM ${quoted(target.table)}`))).toHaveLength(4);
  });

  it('ensureSchema without rls never disables it', async () => {
    const target = freshTarget();
    await ctx.h.sink.schema.ensureSchema(target);
    await ctx.h.sink.schema.ensureSchema({ table: target.table, dimensions: DIMS });
    expect((await ctx.h.sink.schema.inspect(target)).tableRls).toBe(true);
  });
});

/**
 * The role the tool runs as (pg only: PGlite has a single superuser session and no logins).
 * A migration role with BYPASSRLS, owning its schema, does everything; a role without it gets a
 * coded error naming BYPASSRLS instead of silently seeing (and verifying) an empty table.
 */
describe('row-level security and the role of the tool (pg)', () => {
  const ctx = useHarness('pg');
  const cleanup: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup.length = 0;
  });

  async function loginRole(prefix: string, attributes: string): Promise<{ role: string; url: string }> {
    const role = uniqueRole(prefix);
    const password = randomBytes(12).toString('hex');
    await ctx.h.query(`CREATE ROLE "${role}" LOGIN PASSWORD '${password}' ${attributes}`);
    cleanup.push(async () => {
      await ctx.h.query(`DROP OWNED BY "${role}" CASCADE`);
      await ctx.h.query(`DROP ROLE "${role}"`);
    });
    const url = new URL(TEST_DATABASE_URL);
    url.username = role;
    url.password = password;
    return { role, url: url.toString() };
  }

  it('a non-superuser migration role with BYPASSRLS creates, loads and reads an RLS table', async () => {
    const migrator = await loginRole('rls_migrator', 'NOSUPERUSER BYPASSRLS');
    const schema = uniqueRole('rls_schema');
    await ctx.h.query(`CREATE SCHEMA "${schema}" AUTHORIZATION "${migrator.role}"`);
    const target: TargetSpec = { table: `${schema}.docs`, dimensions: DIMS, rls: true };
    const sink = await openSink({ databaseUrl: migrator.url, pgliteDir: '/nonexistent' });
    try {
      await sink.schema.ensureSchema(target);
      await loadTwoUsers(sink, target);
      expect(await sink.schema.inspect(target)).toMatchObject({ tableRls: true });
      expect(await sink.reads.listStoreKeys(target)).toHaveLength(3);
      expect((await sink.reads.diagnose(target)).rows).toBe(6);
      const [owner] = await ctx.h.query<{ owner: string }>('SELECT pg_get_userbyid(relowner)::text AS owner FROM pg_class WHERE oid = to_regclass($1)', [quoted(target.table)]);
      expect(owner?.owner).toBe(migrator.role);
    } finally {
      await sink.close();
    }
  });

  it('a role subject to the policy gets a coded error naming BYPASSRLS, never an empty answer', async () => {
    const target: TargetSpec = { table: ctx.track(uniqueTable('rls_nobypass')), dimensions: DIMS, rls: true };
    await ctx.h.sink.schema.ensureSchema(target);
    await loadTwoUsers(ctx.h.sink, target);
    const plain = await loginRole('rls_plain', 'NOSUPERUSER NOBYPASSRLS');
    await ctx.h.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${quoted(target.table)} TO "${plain.role}"`);
    const sink = await openSink({ databaseUrl: plain.url, pgliteDir: '/nonexistent' });
    try {
      await expectMigrateError(sink.reads.listStoreKeys(target), 'E_LOAD', 'row-level security', 'BYPASSRLS');
      await expectMigrateError(sink.reads.diagnose(target), 'E_LOAD', 'row-level security', 'BYPASSRLS');
      await expectMigrateError(sink.reads.readRowsByIds(target, [makeRow('bob', 'notes', 0, DIMS).id]), 'E_LOAD', 'BYPASSRLS');
    } finally {
      await sink.close();
    }
    expect(await countByStore(ctx.h, target.table)).toEqual({ 'alice/notes': 2, 'bob/notes': 3, 'bob/work': 1 });
  });
});
