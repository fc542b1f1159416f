/**
 * In-process tests of a table source: the --map parser and the command's configuration (no
 * database), then the reader's catalog checks, snapshot reads and change detection on real
 * PostgreSQL (TEST_DATABASE_URL).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMigrateConfig } from '../src/config.js';
import { migrate } from '../src/library.js';
import { parseTableMapping, tableSourceConfig } from '../src/config/tableSource.js';
import { MigrateError } from '../src/errors.js';
import { Secret } from '../src/secret.js';
import { openTableReader } from '../src/sink/tableSource.js';
import type { TableReader, TableRecord, TableSourceConfig } from '../src/source/tableTypes.js';
import { TEST_DATABASE_URL } from './helpers/db.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof MigrateError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'no error';
}

describe('--map', () => {
  it('reads columns and single-quoted constants; a comma or a doubled quote inside quotes is part of the constant', () => {
    const { mapping, text } = parseTableMapping("id=doc_id, user_id=crate_name ,collection=doc_type,text=content,metadata=meta,vector=embedding", null);
    expect(mapping).toEqual({
      id: 'doc_id',
      userId: { kind: 'column', name: 'crate_name' },
      collection: { kind: 'column', name: 'doc_type' },
      text: 'content',
      metadata: 'meta',
      vector: 'embedding',
    });
    expect(text).toBe('id=doc_id,user_id=crate_name,collection=doc_type,text=content,metadata=meta,vector=embedding');
    const constants = parseTableMapping("user_id='acme',collection='crate',text=body", null);
    expect(constants.mapping.userId).toEqual({ kind: 'constant', value: 'acme' });
    expect(constants.mapping.collection).toEqual({ kind: 'constant', value: 'crate' });
    expect(constants.mapping.id).toBeNull();
    expect(constants.text).toBe("user_id='acme',collection='crate',text=body");
  });

  it('defaults: collection is the constant default, the owner may come from --user', () => {
    const { mapping } = parseTableMapping('text=body', 'alice');
    expect(mapping.userId).toEqual({ kind: 'constant', value: 'alice' });
    expect(mapping.collection).toEqual({ kind: 'constant', value: 'default' });
    expect(mapping.metadata).toBeNull();
    expect(mapping.vector).toBeNull();
  });

  it.each([
    ['text=body', null, /needs an owner/],
    ['user_id=owner', null, /needs text=COLUMN/],
    ['user_id=owner,text=body,colour=red', null, /unknown key "colour"/],
    ['user_id=owner,text=body,text=other', null, /text is given twice/],
    ["user_id=owner,text='literal'", null, /text must name a column/],
    ['user_id=owner,text=Body', null, /not a column name/],
    ['user_id=owner,text=body; drop table x', null, /not a column name/],
    ["user_id='not ok',text=body", null, /not a sanitized user id/],
    ["user_id=owner,text=body,collection='a/b'", null, /not a collection name/],
    ["user_id='acme,text=body", null, /not closed/],
    ['user_id=owner,text=body', 'alice', /both name the owner/],
    ['user_id', null, /not KEY=VALUE/],
  ])('refuses %s (--user %s)', (raw, owner, message) => {
    const got = codeOf(() => parseTableMapping(raw, owner));
    expect(got).toMatch(/^E_USAGE: /);
    expect(got).toMatch(message);
  });

  it("keeps a constant's quotes and commas, undoubled", () => {
    expect(() => parseTableMapping("user_id=owner,text=body,collection='a,b'", null)).toThrow(/not a collection name/);
    // Constants are owner ids and collection names, which hold no quote: the doubled quote is read, then refused by value.
    expect(() => parseTableMapping("user_id='o''neil',text=body", null)).toThrow(/--map user_id='o'neil' is not a sanitized user id/);
  });
});

describe('the configuration of a table run', () => {
  const env = {};
  const now = new Date('2026-12-02T00:00:00Z');
  const url = 'postgres://u:secret@db:5432/app';

  it('reads the target database without --from-database; PGlite needs --from-database', () => {
    const config = tableSourceConfig({ fromTable: 'docs.items', map: 'user_id=owner,text=body' }, new Secret(url));
    expect(config?.inTarget).toBe(true);
    expect(config?.database.reveal()).toBe(url);
    expect(codeOf(() => tableSourceConfig({ fromTable: 'items', map: 'user_id=owner,text=body' }, null))).toMatch(/^E_USAGE: .*PGlite.*--from-database/);
    const other = tableSourceConfig({ fromTable: 'items', fromDatabase: 'postgres://r:pw@other/src', map: 'user_id=owner,text=body' }, null);
    expect(other?.inTarget).toBe(false);
    expect(JSON.stringify(other)).not.toContain('pw');
  });

  it.each([
    [{ map: 'text=body' }, /go with --from-table/],
    [{ fromTable: 'items' }, /needs --map/],
    [{ fromTable: 'Items', map: 'user_id=o,text=b' }, /expected table or schema.table/],
    [{ fromTable: 'a.b.c', map: 'user_id=o,text=b' }, /expected table or schema.table/],
    [{ fromTable: 'items', fromDatabase: 'mysql://x', map: 'user_id=o,text=b' }, /postgres:\/\//],
  ])('refuses %j', (flags, message) => {
    expect(codeOf(() => tableSourceConfig(flags, new Secret(url)))).toMatch(message);
  });

  it('a table run has no root and no backup; directory flags and keep mode without a vector column are refused', () => {
    const config = buildMigrateConfig('', { databaseUrl: url, fromTable: 'items', map: 'user_id=owner,text=body,vector=emb', embeddings: 'keep' }, env, '/tmp', now);
    expect(config.root).toBe('');
    expect(config.backupDir).toBeNull();
    expect(config.tableSource?.table).toBe('items');
    expect(codeOf(() => buildMigrateConfig('/data', { databaseUrl: url, fromTable: 'items', map: 'user_id=o,text=b' }, env, '/tmp', now))).toMatch(/drop the root argument/);
    expect(codeOf(() => buildMigrateConfig('', { databaseUrl: url, fromTable: 'items', map: 'user_id=o,text=b', layout: '{user}' }, env, '/tmp', now))).toMatch(/does not go with --layout/);
    expect(codeOf(() => buildMigrateConfig('', { databaseUrl: url, fromTable: 'items', map: 'user_id=o,text=b', embeddings: 'keep' }, env, '/tmp', now))).toMatch(/--map vector=COLUMN/);
    expect(codeOf(() => buildMigrateConfig('', { databaseUrl: url }, env, '/tmp', now))).toMatch(/root directory .* is required/);
  });
});

describe('the table reader (real PostgreSQL)', () => {
  const suffix = randomBytes(4).toString('hex');
  const table = `tread_${suffix}`;
  const composite = `tread_${suffix}_pk2`;
  let client: pg.Client;
  const readers: TableReader[] = [];

  const source = (map: string, name = table): TableSourceConfig => {
    const config = tableSourceConfig({ fromTable: name, map }, new Secret(TEST_DATABASE_URL));
    if (config === null) throw new Error('no table source');
    return config;
  };
  const open = async (map: string, withVectors = false, pageSize?: number, name = table): Promise<TableReader> => {
    const reader = await openTableReader(source(map, name), { withVectors, ...(pageSize === undefined ? {} : { pageSize }) });
    readers.push(reader);
    return reader;
  };
  const all = async (gen: AsyncGenerator<TableRecord>): Promise<TableRecord[]> => {
    const out: TableRecord[] = [];
    for await (const r of gen) out.push(r);
    return out;
  };

  beforeAll(async () => {
    client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query('CREATE EXTENSION IF NOT EXISTS vector');
    await client.query(`CREATE TABLE "${table}" (k bigint PRIMARY KEY, owner text, kind text, body text, meta json, hv halfvec(3), dv double precision[])`);
    await client.query(`INSERT INTO "${table}" SELECT i, 'o' || (i % 2), 'k', 'body ' || i, json_build_object('i', i), ARRAY[i, 1, 0.5]::real[]::halfvec, ARRAY[i / 3.0, 1, 2] FROM generate_series(1, 25) i`);
    await client.query(`CREATE TABLE "${composite}" (a int, b int, owner text, body text, PRIMARY KEY (a, b))`);
  });

  afterAll(async () => {
    for (const r of readers) await r.close().catch(() => undefined);
    await client.query(`DROP TABLE IF EXISTS "${table}", "${composite}"`);
    await client.end();
  });

  it('finds the stores with one DISTINCT query, pages in key order across page boundaries, and counts what it streams', async () => {
    const reader = await open('user_id=owner,collection=kind,text=body,metadata=meta,vector=hv', true, 4);
    expect(reader.label).toBe(`public.${table}`);
    expect(await reader.stores()).toEqual([{ userId: 'o0', collection: 'k' }, { userId: 'o1', collection: 'k' }]);
    // A queued job's one store is looked up by its own rows.
    expect(await reader.stores({ userId: 'o1', collection: 'k' })).toEqual([{ userId: 'o1', collection: 'k' }]);
    expect(await reader.stores({ userId: 'o1', collection: 'other' })).toEqual([]);
    expect(await reader.stores({ userId: 'o2', collection: 'k' })).toEqual([]);
    const inspection = await reader.inspect({ userId: 'o1', collection: 'k' });
    expect(inspection.rows).toBe(13);
    expect(inspection.dimensions).toBe(3);
    const rows = await all(reader.records({ userId: 'o1', collection: 'k' }));
    expect(rows.map((r) => r.sourceId)).toEqual(Array.from({ length: 13 }, (_, i) => `public.${table}:${2 * i + 1}`));
    expect(rows.map((r) => r.position)).toEqual(Array.from({ length: 13 }, (_, i) => i));
    expect(rows[2]).toMatchObject({ text: 'body 5', metadata: { i: 5 } });
    expect(Array.from(rows[2]?.vector ?? [])).toEqual([5, 1, 0.5]);
  });

  it('double precision[] is read as float32, as every stored vector is', async () => {
    const reader = await open('user_id=owner,text=body,vector=dv', true);
    const [first] = await all(reader.records({ userId: 'o1', collection: 'default' }));
    expect(Array.from(first?.vector ?? [])).toEqual([Math.fround(1 / 3), 1, 2]);
  });

  it('a store that changed after validation fails before its last row is handed over', async () => {
    const reader = await open('user_id=owner,text=body', false, 5);
    const store = { userId: 'o0', collection: 'default' };
    const first = await reader.inspect(store);
    expect(first.rows).toBe(12);
    await client.query(`UPDATE "${table}" SET body = body || '!' WHERE k = 24`);
    const seen: string[] = [];
    await expect(async () => {
      for await (const r of reader.records(store)) seen.push(r.sourceId);
    }).rejects.toThrow(/changed since it was validated/);
    expect(seen).toHaveLength(11);
    await client.query(`UPDATE "${table}" SET body = 'body 24' WHERE k = 24`);
    expect((await reader.inspect(store)).sha256).toBe(first.sha256);
  });

  it('a consumer that stops early ends the snapshot; the reader then reads on', async () => {
    const reader = await open('user_id=owner,text=body', false, 2);
    const store = { userId: 'o0', collection: 'default' };
    for await (const r of reader.records(store)) if (r.position === 2) break;
    expect((await all(reader.records(store))).length).toBe(12);
  });

  it('checks the mapping against the catalog: the column, its type, the primary key', async () => {
    await expect(open('user_id=owner,text=nope')).rejects.toThrow(/--map text=nope: .* has no column nope \(its columns: k, owner, kind, body, meta, hv, dv\)/);
    await expect(open('user_id=owner,text=body,metadata=hv')).rejects.toMatchObject({ code: 'E_SOURCE', message: expect.stringMatching(/column hv .* is halfvec\(3\); metadata needs json, jsonb/) });
    await expect(open('user_id=owner,text=body', false, undefined, composite)).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/2-column primary key/) });
    await expect(open('user_id=owner,text=body', true)).rejects.toThrow(/--map vector=COLUMN/);
    const reader = await open('id=a,user_id=owner,text=body', false, undefined, composite);
    expect(await reader.stores()).toEqual([]);
  });

  it('an id column that is not unique is refused, not paged past', async () => {
    const reader = await open('id=kind,user_id=owner,text=body', false, 4);
    await expect(reader.inspect({ userId: 'o0', collection: 'default' })).rejects.toMatchObject({ code: 'E_SOURCE', message: expect.stringMatching(/row kind=k .* appears twice: the id column must be unique/) });
  });

  it('the library: migrate({ fromTable }) loads the table in keep mode, and a re-run loads nothing', async () => {
    const into = `${table}_docs`;
    try {
      const options = { fromTable: { table, map: 'user_id=owner,text=body,metadata=meta,vector=hv' }, embeddings: 'keep' as const, databaseUrl: TEST_DATABASE_URL, table: into };
      const report = await migrate(options);
      expect(report.totals.rowsLoaded).toBe(25);
      expect(report.stores.map((s) => `${s.userId}/${s.collection}:${s.status}`)).toEqual(['o0/default:ok', 'o1/default:ok']);
      expect((await migrate(options)).totals.unchanged).toBe(2);
      await expect(migrate({ ...options, root: '/data' })).rejects.toThrow(/drop the root argument/);
    } finally {
      await client.query(`DROP TABLE IF EXISTS "${into}", "${into}_previous"`);
    }
  });

  it('opens the source read-only: the server refuses a write on its connections', async () => {
    const reader = await open('user_id=owner,text=body');
    const driver = (reader as unknown as { driver: { query: (sql: string) => Promise<unknown> } }).driver;
    await expect(driver.query(`DELETE FROM "${table}"`)).rejects.toThrow(/read-only transaction/);
    expect((await client.query(`SELECT count(*)::int AS n FROM "${table}"`)).rows).toEqual([{ n: 25 }]);
  });
});
