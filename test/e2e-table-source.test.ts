/**
 * `migrate --from-table` end to end on real PostgreSQL: pgvector tables of the target database
 * (the docs-server case: crates + doc_embeddings, keep mode), a table of another database read by a
 * role that may only SELECT (re-embedded with the tiny model), a SIGKILL mid-copy and its re-run,
 * and the inputs that must be refused. Source tables are written with plain SQL; after every run
 * they must be exactly what they were (checksum of their rows and their xmin).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { v5 as uuidv5 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROW_ID_NAMESPACE } from '../src/transform/rowId.js';
import { dropTablesLike, runCli, TEST_DATABASE_URL, TINY_MODEL, withDb, type CliResult } from './helpers/cli.js';
import { createReadOnlySource, type ReadOnlySource } from './helpers/sourceDatabase.js';
import { storesDone, watchCli } from './helpers/watchCli.js';

const suffix = randomBytes(4).toString('hex');
const prefix = `tsrc_${suffix}_`;
const CRATES = `${prefix}crates`;
const DOCS = `${prefix}doc_embeddings`;
const OWNERS = ['serde', 'tokio', 'rand'];
const DIMS = 8;
const target = ['--database-url', TEST_DATABASE_URL];

let client: pg.Client;

async function q<R extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
  return (await client.query<R>(sql, params)).rows;
}

/** What a source table holds, to the byte, and the newest transaction that wrote a row of it. */
async function fingerprint(table: string, c: pg.Client = client): Promise<string> {
  const [row] = (await c.query<{ sum: string | null; n: string; xmax: string | null }>(`SELECT md5(string_agg(t::text, E'\\n' ORDER BY t.id)) AS sum, count(*)::text AS n, max(t.xmin::text) AS xmax FROM "${table}" t`)).rows;
  return `${row?.n}:${row?.sum}:${row?.xmax}`;
}

function runDone(r: CliResult): { runId: string; totals: Record<string, number>; stores: { userId: string; collection: string; status: string; rowsLoaded: number; rowsSkipped: number; error: { code: string } | null }[]; warnings: string[] } {
  const line = r.lines.find((l) => l['type'] === 'run-done');
  if (line === undefined) throw new Error(`no run-done line; exit ${r.code}; stderr: ${r.stderr}`);
  return line['report'] as ReturnType<typeof runDone>;
}

function rowIdOf(user: string, collection: string, table: string, id: string | number): string {
  return uuidv5(`${user}\u0000${collection}\u0000public.${table}:${id}`, ROW_ID_NAMESPACE);
}

/** Texts a byte-exact copy must keep: quotes, backslashes, tabs, newlines, non-BMP and combining characters. */
function docText(i: number): string {
  return `doc ${i}: it's "quoted" \\ back\\slash\ttab\nnew line 🦀 e\u0301 ${'x'.repeat(i % 5)}`;
}

beforeAll(async () => {
  client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await q('CREATE EXTENSION IF NOT EXISTS vector');
  await q(`CREATE TABLE "${CRATES}" (id serial PRIMARY KEY, name text NOT NULL, description text, embedding vector(${DIMS}))`);
  await q(`CREATE TABLE "${DOCS}" (id bigserial PRIMARY KEY, crate_name text, doc_type text, content text, metadata jsonb, embedding vector(${DIMS}))`);
  for (const [i, name] of OWNERS.entries()) {
    await q(`INSERT INTO "${CRATES}" (name, description, embedding) VALUES ($1, $2, $3)`, [name, `${name}: the crate's description ✓`, `[${Array.from({ length: DIMS }, (_, d) => (d === i ? 1 : 0.125 * d)).join(',')}]`]);
  }
  for (let i = 0; i < 45; i++) {
    const vector = `[${Array.from({ length: DIMS }, (_, d) => Math.fround(Math.sin(i * 7 + d) * 0.37)).join(',')}]`;
    await q(`INSERT INTO "${DOCS}" (crate_name, doc_type, content, metadata, embedding) VALUES ($1, $2, $3, $4, $5)`, [OWNERS[i % 3], i % 2 === 0 ? 'api' : 'guide', docText(i), { path: `src/${i}.rs`, n: i, nested: { ok: true } }, vector]);
  }
});

afterAll(async () => {
  await dropTablesLike(TEST_DATABASE_URL, prefix);
  await client.end();
});

describe('migrate --from-table (the target database)', () => {
  const docsMap = 'id=id,user_id=crate_name,collection=doc_type,text=content,metadata=metadata,vector=embedding';
  const cratesMap = "id=id,user_id=name,collection='crate',text=description,vector=embedding";
  const table = `${prefix}documents`;
  const docsArgs = ['--from-table', DOCS, '--map', docsMap, '--embeddings', 'keep', '--table', table, '--json', ...target];
  const cratesArgs = ['--from-table', `public.${CRATES}`, '--map', cratesMap, '--embeddings', 'keep', '--table', table, '--json', ...target];

  it('dry run writes nothing; both tables load into one documents table, byte-exact, vectors equal; re-run loads nothing; verify; a changed store is replaced; rollback backs everything out', async () => {
    const before = { docs: await fingerprint(DOCS), crates: await fingerprint(CRATES) };
    const dry = await runCli(['migrate', ...docsArgs, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(runDone(dry).totals['rowsPlanned']).toBe(45);
    expect(runDone(dry).stores).toHaveLength(6);
    expect((await q<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]))[0]?.t).toBeNull();

    const docs = await runCli(['migrate', ...docsArgs]);
    expect(docs.code, docs.stderr).toBe(0);
    const docsRun = runDone(docs);
    expect(docsRun.totals['rowsLoaded']).toBe(45);
    expect(docsRun.warnings.join('\n')).toMatch(/nothing to back up/);
    const crates = await runCli(['migrate', ...cratesArgs]);
    expect(crates.code, crates.stderr).toBe(0);
    const cratesRun = runDone(crates);
    expect(cratesRun.stores.map((s) => `${s.userId}/${s.collection}`)).toEqual(['rand/crate', 'serde/crate', 'tokio/crate']);

    // Every row against its source row: id, owner, collection, text, metadata, vector.
    const loaded = await q<{ id: string; user_id: string; collection_name: string; text: string; metadata: unknown; embedding: string }>(`SELECT id::text, user_id, collection_name, text, metadata, embedding::text FROM "${table}"`);
    const byId = new Map(loaded.map((r) => [r.id, r]));
    const sourceDocs = await q<{ id: string; crate_name: string; doc_type: string; content: string; metadata: unknown; embedding: string }>(`SELECT id::text, crate_name, doc_type, content, metadata, embedding::text FROM "${DOCS}"`);
    const sourceCrates = await q<{ id: number; name: string; description: string; embedding: string }>(`SELECT id, name, description, embedding::text FROM "${CRATES}"`);
    expect(loaded).toHaveLength(sourceDocs.length + sourceCrates.length);
    for (const s of sourceDocs) {
      const row = byId.get(rowIdOf(s.crate_name, s.doc_type, DOCS, s.id));
      expect(row, `doc ${s.id}`).toBeDefined();
      expect(row).toEqual({ id: rowIdOf(s.crate_name, s.doc_type, DOCS, s.id), user_id: s.crate_name, collection_name: s.doc_type, text: s.content, metadata: s.metadata, embedding: s.embedding });
    }
    for (const s of sourceCrates) expect(byId.get(rowIdOf(s.name, 'crate', CRATES, s.id))).toEqual({ id: rowIdOf(s.name, 'crate', CRATES, s.id), user_id: s.name, collection_name: 'crate', text: s.description, metadata: {}, embedding: s.embedding });
    const perOwner = await q<{ user_id: string; n: number }>(`SELECT user_id, count(*)::int AS n FROM "${table}" GROUP BY 1 ORDER BY 1`);
    expect(perOwner).toEqual([{ user_id: 'rand', n: 16 }, { user_id: 'serde', n: 16 }, { user_id: 'tokio', n: 16 }]);

    const again = await runCli(['migrate', ...docsArgs]);
    expect(again.code, again.stderr).toBe(0);
    expect(runDone(again).totals['rowsLoaded']).toBe(0);
    expect(runDone(again).totals['unchanged']).toBe(6);

    for (const args of [docsArgs, cratesArgs]) {
      const verify = await runCli(['verify', ...args]);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      const result = JSON.parse(verify.stdout) as { stores: { ok: boolean }[]; mismatches: unknown[] };
      expect(result.mismatches).toEqual([]);
      expect(result.stores.length).toBeGreaterThan(0);
    }
    // Without source flags, verify reads what the latest run recorded (a table of the target database needs no URL).
    const recorded = await runCli(['verify', '--table', table, '--embeddings', 'keep', '--json', ...target]);
    expect(recorded.code, recorded.stdout + recorded.stderr).toBe(0);
    expect((JSON.parse(recorded.stdout) as { stores: unknown[] }).stores.length).toBeGreaterThan(0);
    expect({ docs: await fingerprint(DOCS), crates: await fingerprint(CRATES) }).toEqual(before);

    // A changed row changes its store's checksum: that store alone is replaced, and verify sees the new text.
    const [changed] = await q<{ id: string; crate_name: string; doc_type: string; content: string }>(`UPDATE "${DOCS}" SET content = content || ' (edited)' WHERE id = 1 RETURNING id::text, crate_name, doc_type, content`);
    const edited = await runCli(['migrate', ...docsArgs]);
    expect(edited.code, edited.stderr).toBe(0);
    const editedRun = runDone(edited);
    expect(editedRun.stores.filter((s) => s.status === 'ok').map((s) => `${s.userId}/${s.collection}`)).toEqual([`${changed?.crate_name}/${changed?.doc_type}`]);
    expect((await q<{ text: string }>(`SELECT text FROM "${table}" WHERE id = $1`, [rowIdOf(String(changed?.crate_name), String(changed?.doc_type), DOCS, 1)]))[0]?.text).toBe(changed?.content);

    // Rolled back newest first, the table is what it was before each run, and at last empty.
    const rollback = async (runId: string) => {
      const r = await runCli(['rollback', '--table', table, '--run', runId, '--json', ...target]);
      expect(r.code, r.stderr).toBe(0);
    };
    await rollback(editedRun.runId);
    expect((await q<{ text: string }>(`SELECT text FROM "${table}" WHERE id = $1`, [rowIdOf(String(changed?.crate_name), String(changed?.doc_type), DOCS, 1)]))[0]?.text).toBe(docText(0));
    await rollback(cratesRun.runId);
    expect(await q(`SELECT 1 FROM "${table}" WHERE collection_name = 'crate'`)).toEqual([]);
    await rollback(docsRun.runId);
    expect(await q(`SELECT count(*)::int AS n FROM "${table}"`)).toEqual([{ n: 0 }]);
  }, 300_000);
});

describe('migrate --from-table --from-database (another database, a role that may only SELECT)', () => {
  const database = `pgvm_t_src_${suffix}`;
  const role = `pgvm_t_reader_${suffix}`;
  const table = `${prefix}from_other`;
  let other: ReadOnlySource;
  let source: pg.Client;
  let sourceUrl: string;
  let password: string;

  beforeAll(async () => {
    other = await createReadOnlySource(database, role, async (admin) => {
      await admin.query('CREATE TABLE kb.notes (id text PRIMARY KEY, owner text NOT NULL, body text NOT NULL)');
      for (let i = 0; i < 24; i++) await admin.query('INSERT INTO kb.notes VALUES ($1, $2, $3)', [`note-${String(i).padStart(3, '0')}`, ['ann', 'bob'][i % 2], `note ${i} about ${['databases', 'vectors', 'rust'][i % 3]}`]);
    });
    ({ admin: source, readerUrl: sourceUrl, password } = other);
  });

  afterAll(async () => {
    await other?.drop();
  });

  it('re-embeds the texts with the tiny model; verify passes; the password is nowhere in the ledger; the source is unchanged', async () => {
    const before = await fingerprint('kb"."notes', source);
    const args = ['--from-table', 'kb.notes', '--from-database', sourceUrl, '--map', 'user_id=owner,text=body', '--model', TINY_MODEL, '--table', table, '--json', ...target];
    const run = await runCli(['migrate', ...args]);
    expect(run.code, run.stderr).toBe(0);
    const report = runDone(run);
    expect(report.stores.map((s) => [`${s.userId}/${s.collection}`, s.status, s.rowsLoaded])).toEqual([
      ['ann/default', 'ok', 12],
      ['bob/default', 'ok', 12],
    ]);
    const rows = await q<{ id: string; user_id: string; text: string; dims: number }>(`SELECT id::text, user_id, text, vector_dims(embedding) AS dims FROM "${table}"`);
    const expected = (await source.query<{ id: string; owner: string; body: string }>('SELECT id, owner, body FROM kb.notes')).rows;
    expect(new Map(rows.map((r) => [r.id, [r.user_id, r.text, r.dims]]))).toEqual(new Map(expected.map((e) => [uuidv5(`${e.owner}\u0000default\u0000kb.notes:${e.id}`, ROW_ID_NAMESPACE), [e.owner, e.body, 32]])));

    const verify = await runCli(['verify', ...args]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    // The ledger has no password to reach the source with: verify asks for --from-database again.
    const unnamed = await runCli(['verify', '--table', table, '--json', ...target]);
    expect(unnamed.code).toBe(2);
    expect(unnamed.stderr).toMatch(/E_USAGE.*latest run read table kb\.notes at \S+\/pgvm_t_src_\w+: pass --from-table kb\.notes --from-database/);
    const ledger = await q<{ options: string }>(`SELECT options::text FROM migration_runs WHERE id = $1`, [report.runId]);
    expect(ledger).toHaveLength(1);
    expect(ledger[0]?.options).toContain('kb.notes');
    expect(ledger[0]?.options).not.toContain(password);
    expect(run.stdout + run.stderr + verify.stdout + verify.stderr).not.toContain(password);
    expect(await fingerprint('kb"."notes', source)).toBe(before);
  }, 300_000);
});

describe('migrate --from-table: the reductions of stored vectors', () => {
  it('vectors over 2,000 dimensions take the path FAISS and Chroma stores take: halfvec by default, equal at half precision', async () => {
    const source = `${prefix}wide`;
    const table = `${prefix}wide_docs`;
    await q(`CREATE TABLE "${source}" (id int PRIMARY KEY, body text NOT NULL, emb vector(2100) NOT NULL)`);
    await q(`INSERT INTO "${source}" SELECT i, 'wide ' || i, (SELECT array_agg(((i * 31 + d) % 17) / 16.0)::real[] FROM generate_series(1, 2100) d)::vector FROM generate_series(1, 5) i`);
    const r = await runCli(['migrate', '--from-table', source, '--map', "user_id='wide',text=body,vector=emb", '--embeddings', 'keep', '--table', table, '--json', ...target]);
    expect(r.code, r.stderr).toBe(0);
    expect(runDone(r).totals['rowsLoaded']).toBe(5);
    const [column] = await q<{ type: string }>(`SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'embedding'`, [table]);
    expect(column?.type).toBe('halfvec(2100)');
    const differing = await q(`SELECT s.id FROM "${source}" s JOIN "${table}" t ON t.text = s.body WHERE t.embedding <> s.emb::halfvec`);
    expect(differing).toEqual([]);
  }, 300_000);
});

describe('migrate --from-table into PGlite', () => {
  it('a PGlite target reads a PostgreSQL table with --from-database, and refuses to go without it', async () => {
    const source = `${prefix}to_pglite`;
    await q(`CREATE TABLE "${source}" (id int PRIMARY KEY, owner text NOT NULL, body text NOT NULL, emb vector(3) NOT NULL)`);
    await q(`INSERT INTO "${source}" VALUES (1, 'a', 'hello', '[1,2,3]'), (2, 'b', 'world', '[3,2,1]'), (3, 'a', 'again', '[0.5,0.25,0.125]')`);
    const dir = mkdtempSync(path.join(tmpdir(), 'pgvm-table-pglite-'));
    try {
      const args = ['--from-table', source, '--map', 'user_id=owner,text=body,vector=emb', '--embeddings', 'keep', '--pglite-dir', dir, '--json'];
      const alone = await runCli(['migrate', ...args]);
      expect(alone.code).toBe(2);
      expect(alone.stderr).toMatch(/E_USAGE.*PGlite.*--from-database/);
      const run = await runCli(['migrate', ...args, '--from-database', TEST_DATABASE_URL]);
      expect(run.code, run.stderr).toBe(0);
      const rows = await withDb({ driver: 'pglite', dir }, (db) => db<{ user_id: string; text: string; embedding: string }>('SELECT user_id, text, embedding::text FROM vector_documents ORDER BY text'));
      expect(rows).toEqual([
        { user_id: 'a', text: 'again', embedding: '[0.5,0.25,0.125]' },
        { user_id: 'a', text: 'hello', embedding: '[1,2,3]' },
        { user_id: 'b', text: 'world', embedding: '[3,2,1]' },
      ]);
      const verify = await runCli(['verify', ...args, '--from-database', TEST_DATABASE_URL]);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('migrate --from-table: SIGKILL mid-copy, then a re-run', () => {
  const source = `${prefix}big`;
  const table = `${prefix}killed`;
  const owners = ['u1', 'u2', 'u3', 'u4'];
  const perOwner = 400;

  it('leaves every store whole or absent; the re-run completes it: no duplicates, every store ok, the table equals the source', async () => {
    await q(`CREATE TABLE "${source}" (id int PRIMARY KEY, owner text NOT NULL, body text NOT NULL, embedding real[] NOT NULL)`);
    await q(`INSERT INTO "${source}" SELECT i, 'u' || (1 + i % 4), 'row ' || i || ' of the big table', ARRAY[sin(i), cos(i), 0.5, i / 10000.0]::real[] FROM generate_series(1, ${owners.length * perOwner}) AS i`);
    const before = await fingerprint(source);
    const args = ['migrate', '--from-table', source, '--map', 'user_id=owner,text=body,vector=embedding', '--embeddings', 'keep', '--batch-size', '2', '--table', table, '--json', ...target];
    let killedIn: string | null = null;
    const run = await watchCli(args, {
      onLine: (line, child) => {
        // The second store, part-way: one store is committed, one is in its COPY.
        if (killedIn !== null || line.type !== 'store-progress' || line.userId !== 'u2' || (line.rowsDone ?? 0) < 20) return;
        killedIn = `${line.userId}/${line.collection}`;
        child.kill('SIGKILL');
      },
    });
    expect(killedIn).toBe('u2/default');
    expect(run.signal).toBe('SIGKILL');
    expect(run.lines.some((l) => l.type === 'run-done')).toBe(false);
    const counts = await q<{ user_id: string; n: number }>(`SELECT user_id, count(*)::int AS n FROM "${table}" GROUP BY 1 ORDER BY 1`);
    expect(counts.find((c) => c.user_id === 'u1')?.n).toBe(perOwner);
    for (const c of counts) expect([0, perOwner], c.user_id).toContain(c.n);
    expect(counts.find((c) => c.user_id === 'u2')).toBeUndefined();

    const again = await watchCli(args);
    expect(again.code, again.stderr).toBe(0);
    const done = storesDone(again.lines);
    expect([...done.keys()].sort()).toEqual(owners.map((o) => `${o}/default`));
    for (const o of owners) expect(['ok', 'unchanged']).toContain(done.get(`${o}/default`)?.status);
    expect(done.get('u1/default')?.status).toBe('unchanged');
    const [dups] = await q<{ n: number; ids: number }>(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM "${table}"`);
    expect(dups).toEqual({ n: owners.length * perOwner, ids: owners.length * perOwner });
    const mismatched = await q(
      `SELECT s.id FROM "${source}" s FULL JOIN "${table}" t ON t.user_id = s.owner AND t.text = s.body AND t.embedding = s.embedding::vector WHERE s.id IS NULL OR t.id IS NULL`,
    );
    expect(mismatched).toEqual([]);
    expect(await fingerprint(source)).toBe(before);
  }, 300_000);
});

describe('migrate --from-table: refused inputs, nothing half-written', () => {
  const bad = `${prefix}bad`;
  const nopk = `${prefix}nopk`;
  const table = `${prefix}refused`;
  const tableArgs = ['--table', table, '--json', ...target];

  beforeAll(async () => {
    await q(`CREATE TABLE "${bad}" (id int PRIMARY KEY, owner text, body text, meta jsonb, tags text[], vec real[])`);
    await q(`INSERT INTO "${bad}" VALUES
      (1, 'good', 'fine one', '{"a": 1}', '{x}', '{1,0,0}'), (2, 'good', 'fine two', NULL, '{y}', '{0,1,0}'),
      (3, 'mixed', 'three dims', NULL, NULL, '{1,2,3}'), (4, 'mixed', 'two dims', NULL, NULL, '{1,2}'),
      (5, 'nulls', 'has one', NULL, NULL, '{1,2,3}'), (6, 'nulls', 'has none', NULL, NULL, NULL),
      (7, 'good', NULL, NULL, NULL, '{0,0,1}')`);
    await q(`CREATE TABLE "${nopk}" (owner text, body text)`);
    await q(`INSERT INTO "${nopk}" VALUES ('a', 'x')`);
  });

  const migrate = (...args: string[]) => runCli(['migrate', ...args, ...tableArgs]);
  const expectRefused = async (r: CliResult, code: string, message: RegExp) => {
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(code);
    expect(r.stderr).toMatch(message);
    expect((await q<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]))[0]?.t).toBeNull();
  };

  it('a missing table, a missing column, a column of the wrong type, a table without a primary key: coded errors before anything is written', async () => {
    const before = await fingerprint(bad);
    await expectRefused(await migrate('--from-table', `${prefix}nothing_here`, '--map', 'user_id=owner,text=body'), 'E_SOURCE', /no such table/);
    await expectRefused(await migrate('--from-table', bad, '--map', 'user_id=owner,text=content'), 'E_SOURCE', /has no column content/);
    await expectRefused(await migrate('--from-table', bad, '--map', 'user_id=owner,text=meta'), 'E_SOURCE', /column meta .* is jsonb; text needs text, varchar/);
    await expectRefused(await migrate('--from-table', bad, '--map', 'user_id=owner,text=body,metadata=tags'), 'E_SOURCE', /column tags .* is text\[\]; metadata needs json, jsonb/);
    await expectRefused(await migrate('--from-table', bad, '--map', 'user_id=owner,text=body,vector=body', '--embeddings', 'keep'), 'E_SOURCE', /column body .* is text; vector needs vector, halfvec, real\[\], double precision\[\]/);
    await expectRefused(await migrate('--from-table', bad, '--map', 'user_id=owner,text=body', '--embeddings', 'keep'), 'E_USAGE', /--map vector=COLUMN/);
    await expectRefused(await migrate('--from-table', nopk, '--map', 'user_id=owner,text=body', '--model', TINY_MODEL), 'E_USAGE', /no primary key: .*--map id=COLUMN/);
    const itself = await runCli(['migrate', '--from-table', bad, '--map', 'user_id=owner,text=body,vector=vec', '--embeddings', 'keep', '--table', bad, '--json', ...target]);
    expect(itself.code).toBe(2);
    expect(itself.stderr).toMatch(/E_USAGE.*is the target table itself/);
    expect(await fingerprint(bad)).toBe(before);
  }, 300_000);

  it('keep mode: a store of mixed dimensions and one with a NULL vector fail with E_VECTOR and load nothing; the valid store loads, its NULL text skipped', async () => {
    const before = await fingerprint(bad);
    const r = await migrate('--from-table', bad, '--map', 'user_id=owner,text=body,metadata=meta,vector=vec', '--embeddings', 'keep');
    expect(r.code, r.stderr).toBe(1);
    const stores = new Map(runDone(r).stores.map((s) => [s.userId, s]));
    expect(stores.get('good')?.status).toBe('ok');
    expect(stores.get('good')).toMatchObject({ rowsLoaded: 2, rowsSkipped: 1 });
    expect(stores.get('mixed')?.error?.code).toBe('E_VECTOR');
    expect(stores.get('nulls')?.error?.code).toBe('E_VECTOR');
    expect(JSON.stringify(runDone(r).stores)).toMatch(/row id=4 .* has 2 dimensions, earlier rows of this store have 3/);
    expect(JSON.stringify(runDone(r).stores)).toMatch(/row id=6 .* has a NULL vec/);
    expect(await q(`SELECT user_id, text, metadata FROM "${table}" ORDER BY text`)).toEqual([
      { user_id: 'good', text: 'fine one', metadata: { a: 1 } },
      { user_id: 'good', text: 'fine two', metadata: {} },
    ]);
    expect(await fingerprint(bad)).toBe(before);
  }, 300_000);
});
