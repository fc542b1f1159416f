/**
 * `relayout` end to end through the built CLI on real PostgreSQL (and PGlite): a 100k-row table
 * re-partitioned while a writer inserts and updates and readers check they always see the whole
 * table; the vector type and a truncation checked number by number against JavaScript's own
 * float16 rounding and normalization; a SIGKILL mid-copy and the resume; --abort, --swap-back,
 * --dry-run (writes nothing) and the refusals.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float16BitsToNumber, float32ToFloat16Bits } from '../src/sink/float16.js';
import { projectForSearch, toUnit } from '../src/transform/pcaFit.js';
import { parseSpace, projectedSpace, serializeSpace } from '../src/transform/embeddingSpace.js';
import { fromPcaModelRecord } from '../src/run/pcaModelRecord.js';
import { openSink } from '../src/sink/index.js';
import { dropTablesLike, REPO, runCli, SHARED_STORES, TEST_DATABASE_URL, targetArgs, TINY_MODEL, withDb, type Target } from './helpers/cli.js';
import { watchCli, type CliLine } from './helpers/watchCli.js';

const ROOT = path.join(SHARED_STORES, 'user_data');
const MASTER_KEY = (JSON.parse(await readFile(path.join(SHARED_STORES, 'CASES.json'), 'utf8')) as { master_key: string }).master_key;
const MODEL_48 = path.join(REPO, 'fixtures/models/tiny-bert-48');
/** Rows the shared stores load with tiny-bert (32 dimensions); the failing stores load none. */
const STORE_ROWS = 115;
const BULK_ROWS = 100_000;
const SUFFIX = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const PREFIX = `rlt_${SUFFIX}`;
const PG: Target = { driver: 'pg', url: TEST_DATABASE_URL };

type Query = <R>(sql: string, params?: unknown[]) => Promise<R[]>;

/** A table in this tool's layout: the shared stores migrated with tiny-bert, plus `bulk` rows added in SQL (as an application would). */
async function makeTable(target: Target, table: string, bulk: number): Promise<void> {
  const r = await runCli(['migrate', ROOT, ...targetArgs(target), '--table', table, '--model', TINY_MODEL, '--no-backup'], { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
  expect(r.code, r.stderr).toBe(1); // the shared data holds stores that must fail
  if (bulk === 0) return;
  await withDb(target, async (q) => {
    // Inserting into a live HNSW graph costs a graph search per row: the bulk goes in without it.
    await q(`DROP INDEX IF EXISTS "${table}_embedding_hnsw_idx"`);
    await q(
      `INSERT INTO "${table}" (id, user_id, collection_name, text, embedding, metadata, embedding_model, embedding_fingerprint)
       SELECT gen_random_uuid(), 'bulk_' || (g % 8), 'c' || (g % 3), 'row ' || g,
              (SELECT array_agg(random() - 0.5) FROM generate_series(1, 32 + g * 0))::vector,
              jsonb_build_object('g', g), f.embedding_model, f.embedding_fingerprint
       FROM generate_series(1, $1::int) g, (SELECT embedding_model, embedding_fingerprint FROM "${table}" LIMIT 1) f`,
      [bulk],
    );
  });
}

function reportOf(lines: Record<string, unknown>[]): Record<string, unknown> & {
  resumed: boolean;
  rows: { total: number; alreadyDone: number; copied: number; caughtUp: number; pruned: number };
  swap: { previousTable: string; caughtUp: number; pruned: number } | null;
  verification: { spotChecks: number; storesBehind: number } | null;
  index: { built: boolean } | null;
} {
  const done = lines.find((l) => l['type'] === 'relayout-done');
  if (done === undefined) throw new Error(`no relayout-done line in ${JSON.stringify(lines.slice(-3))}`);
  return done['report'] as ReturnType<typeof reportOf>;
}

/** Ids of rows of `a` and `b` that differ in any column (vectors by their text form, exact), or exist in one only. */
async function differingIds(q: Query, a: string, b: string): Promise<string[]> {
  const rows = await q<{ id: string }>(`SELECT coalesce(x.id, y.id)::text AS id FROM "${a}" x FULL JOIN "${b}" y USING (id) WHERE x.id IS NULL OR y.id IS NULL OR (x.*)::text IS DISTINCT FROM (y.*)::text`);
  return rows.map((r) => r.id);
}

async function retiredOf(q: Query, table: string): Promise<string[]> {
  const rows = await q<{ relname: string }>(`SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND relname ~ $1 ORDER BY 1`, [`^${table}_prev_[0-9]{14}$`]);
  return rows.map((r) => r.relname);
}

async function partitionsOf(q: Query, table: string): Promise<number> {
  const [row] = await q<{ n: number }>(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = to_regclass($1)`, [`"${table}"`]);
  return row?.n ?? -1;
}

function vectorOf(text: string): number[] {
  return JSON.parse(text) as number[];
}

afterAll(async () => {
  await dropTablesLike(TEST_DATABASE_URL, PREFIX);
});

describe('relayout of a live 100k-row table into 16 partitions (pg)', () => {
  const table = `${PREFIX}_big`;
  const baseline = `${PREFIX}_baseline`;

  beforeAll(async () => {
    await makeTable(PG, table, BULK_ROWS);
    await withDb(PG, (q) => q(`CREATE TABLE "${baseline}" AS SELECT id FROM "${table}"`));
  }, 300_000);

  it('readers always see every row while a writer inserts and updates; the swap keeps every row, column by column', async () => {
    const [{ n: baselineRows } = { n: 0 }] = await withDb(PG, (q) => q<{ n: number }>(`SELECT count(*)::int AS n FROM "${baseline}"`));
    expect(baselineRows).toBe(STORE_ROWS + BULK_ROWS);

    // The writer: its own connection, one transaction per statement; `committed` counts inserts
    // that returned, so a reader starting after that must see them. Each transaction also reads
    // which table it wrote to: one that wrote the old table holds its lock until it commits, so
    // the swap cannot have happened yet and the table is still plain ('r'); after the swap it is
    // the partitioned one ('p'). Rows written after the swap are in the new table only.
    const writer = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await writer.connect();
    let committed = 0;
    let updates = 0;
    let writing = true;
    const afterSwap = new Set<string>();
    const inTransaction = async (sql: string, params: unknown[]) => {
      await writer.query('BEGIN');
      const { rows } = await writer.query<{ id: string }>(sql, params);
      const { rows: kind } = await writer.query<{ relkind: string }>(`SELECT relkind::text AS relkind FROM pg_class WHERE oid = to_regclass($1)`, [`"${table}"`]);
      await writer.query('COMMIT');
      if (kind[0]?.relkind === 'p') for (const r of rows) afterSwap.add(r.id);
      return rows.length;
    };
    const write = async (i: number) => {
      await inTransaction(
        `INSERT INTO "${table}" (id, user_id, collection_name, text, embedding, metadata)
         VALUES (gen_random_uuid(), 'writer', 'w', $1, (SELECT array_agg(random() - 0.5) FROM generate_series(1, 32))::vector, jsonb_build_object('i', $2::int))
         RETURNING id::text AS id`,
        [`written ${i}`, i],
      );
      committed++;
      // Rows the copy has already passed (smallest ids first) and rows it has not reached yet.
      const order = i % 2 === 0 ? 'ASC' : 'DESC';
      updates += await inTransaction(
        `UPDATE "${table}" SET metadata = jsonb_build_object('updated', $1::int), updated_at = now() WHERE id = (SELECT id FROM "${baseline}" ORDER BY id ${order} OFFSET $2 LIMIT 1) RETURNING id::text AS id`,
        [i, i % 500],
      );
    };
    const writerLoop = (async () => {
      for (let i = 0; writing; i++) await write(i);
    })();

    // Readers: a fresh connection each time, default settings.
    const violations: string[] = [];
    let reads = 0;
    let reading = true;
    const readerLoop = (async () => {
      while (reading) {
        const floor = STORE_ROWS + BULK_ROWS + committed;
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await client.connect();
        try {
          const { rows } = await client.query<{ n: number; missing: number }>(
            `SELECT (SELECT count(*)::int FROM "${table}") AS n, (SELECT count(*)::int FROM "${baseline}" b WHERE NOT EXISTS (SELECT 1 FROM "${table}" t WHERE t.id = b.id)) AS missing`,
          );
          const row = rows[0];
          if (row === undefined || row.n < floor || row.missing !== 0) violations.push(JSON.stringify({ ...row, floor }));
          reads++;
        } finally {
          await client.end();
        }
      }
    })();

    let paused = false;
    const run = await watchCli(['relayout', ...targetArgs(PG), '--table', table, '--partitions', '16', '--page-rows', '5000', '--json'], {
      timeoutMs: 600_000,
      onLine: async (line: CliLine, child) => {
        // Held after its first page: rows it has copied are changed now, so the catch-up has work.
        if (line.type === 'relayout-progress' && !paused) {
          paused = true;
          child.kill('SIGSTOP');
          for (let i = 0; i < 20; i++) await write(1_000_000 + i);
          child.kill('SIGCONT');
        }
      },
    });
    writing = false;
    await writerLoop;
    reading = false;
    await readerLoop;
    await writer.end();

    expect(run.code, run.stderr).toBe(0);
    expect(paused).toBe(true);
    expect(violations).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    expect(updates).toBeGreaterThan(20);
    const report = reportOf(run.lines);
    expect(report.rows.caughtUp + (report.swap?.caughtUp ?? 0)).toBeGreaterThan(0);
    expect(report.index?.built).toBe(true);
    // Progress went out as JSON lines: done/total, rate, ETA.
    const progress = run.lines.filter((l) => l.type === 'relayout-progress');
    expect(progress.length).toBeGreaterThanOrEqual(Math.floor(BULK_ROWS / 5000));
    // The writer was already adding rows when the job counted them.
    expect(Number(progress[0]?.['total'])).toBeGreaterThanOrEqual(STORE_ROWS + BULK_ROWS);
    expect(typeof progress[0]?.['rowsPerSecond']).toBe('number');

    await withDb(PG, async (q) => {
      expect(await partitionsOf(q, table)).toBe(16);
      // An HNSW index on every partition.
      const [hnsw] = await q<{ n: number }>(
        `SELECT count(DISTINCT i.inhrelid)::int AS n FROM pg_inherits i JOIN pg_index x ON x.indrelid = i.inhrelid JOIN pg_class ic ON ic.oid = x.indexrelid JOIN pg_am am ON am.oid = ic.relam
         WHERE i.inhparent = to_regclass($1) AND am.amname = 'hnsw'`,
        [`"${table}"`],
      );
      expect(hnsw?.n).toBe(16);
      const retired = await retiredOf(q, table);
      expect(retired).toHaveLength(1);
      const old = retired[0] as string;
      expect(await partitionsOf(q, old)).toBe(0);
      // Every row of the old table (which had the writer's rows up to the swap), equal column by
      // column; the only other differences are the rows written after the swap, to the new table.
      expect((await differingIds(q, table, old)).filter((id) => !afterSwap.has(id))).toEqual([]);
      const [lost] = await q<{ n: number }>(`SELECT count(*)::int AS n FROM "${old}" y WHERE NOT EXISTS (SELECT 1 FROM "${table}" x WHERE x.id = y.id)`);
      expect(lost?.n).toBe(0);
      const [counts] = await q<{ all: number; writer: number; updated: number }>(
        `SELECT count(*)::int AS all, count(*) FILTER (WHERE user_id = 'writer')::int AS writer, count(*) FILTER (WHERE metadata ? 'updated')::int AS updated FROM "${table}"`,
      );
      expect(counts?.all).toBe(STORE_ROWS + BULK_ROWS + committed);
      expect(counts?.writer).toBe(committed);
      expect(counts?.updated).toBeGreaterThan(0);
    });

    // --swap-back: the plain table of before is the table again.
    const back = await runCli(['relayout', ...targetArgs(PG), '--table', table, '--swap-back', '--json']);
    expect(back.code, back.stderr).toBe(0);
    await withDb(PG, async (q) => {
      expect(await partitionsOf(q, table)).toBe(0);
      const [kind] = await q<{ relkind: string }>(`SELECT relkind::text AS relkind FROM pg_class WHERE oid = to_regclass($1)`, [`"${table}"`]);
      expect(kind?.relkind).toBe('r');
      expect(await partitionsOf(q, `${table}_reembed`)).toBe(16);
      expect((await differingIds(q, table, `${table}_reembed`)).filter((id) => !afterSwap.has(id))).toEqual([]);
    });
    const aborted = await runCli(['relayout', ...targetArgs(PG), '--table', table, '--abort', '--json']);
    expect(aborted.code, aborted.stderr).toBe(0);
  }, 900_000);
});

describe('relayout: vector type, truncation and PCA, values as pgvector stores them (pg)', () => {
  const halfTable = `${PREFIX}_half`;
  const truncTable = `${PREFIX}_trunc`;
  const pcaTable = `${PREFIX}_pca`;

  beforeAll(async () => {
    await makeTable(PG, halfTable, 0);
    await makeTable(PG, truncTable, 0);
    await makeTable(PG, pcaTable, 0);
  }, 300_000);

  it('--dimensions 8 --reduce pca: a model fitted on the stored vectors, every vector projected as a query would be, searched by L2', async () => {
    const r = await runCli(['relayout', ...targetArgs(PG), '--table', pcaTable, '--dimensions', '8', '--reduce', 'pca', '--pca-sample', '100', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = reportOf(r.lines) as ReturnType<typeof reportOf> & { reduction: { method: string; pcaModelId: string; fitted: boolean; sampleSize: number } };
    expect(report.reduction).toMatchObject({ method: 'pca', fitted: true, sampleSize: 100 });
    const sink = await openSink({ databaseUrl: TEST_DATABASE_URL, pgliteDir: '/nonexistent', readOnly: true });
    try {
      const described = await sink.schema.describeTable({ table: pcaTable });
      expect(described).toMatchObject({ dimensions: 8, vectorType: 'vector', distance: 'l2', pcaModelId: report.reduction.pcaModelId });
      const record = await sink.pcaModels.active({ table: pcaTable, dimensions: 8, vectorType: 'vector', distance: 'l2' });
      expect(record?.id).toBe(report.reduction.pcaModelId);
      const model = fromPcaModelRecord(record as NonNullable<typeof record>);
      await withDb(PG, async (q) => {
        const [old] = await retiredOf(q, pcaTable);
        const rows = await q<{ n: string; o: string; nf: string | null; of: string | null; pca: string | null }>(
          `SELECT n.embedding::text AS n, o.embedding::text AS o, n.embedding_fingerprint AS nf, o.embedding_fingerprint AS of, n.pca_model_id::text AS pca FROM "${pcaTable}" n JOIN "${old}" o USING (id)`,
        );
        expect(rows).toHaveLength(STORE_ROWS);
        for (const row of rows) {
          const expected = projectForSearch(model, Float32Array.from(vectorOf(row.o)));
          vectorOf(row.n).forEach((x, i) => expect(Math.abs(x - (expected[i] as number))).toBeLessThan(1e-5));
          expect(row.pca).toBe(report.reduction.pcaModelId);
          const before = parseSpace(row.of);
          expect(before).not.toBeNull();
          expect(row.nf).toBe(serializeSpace(projectedSpace(before as NonNullable<typeof before>, { id: report.reduction.pcaModelId, targetDimensions: 8 })));
        }
      });
    } finally {
      await sink.close();
    }
    // query projects with the model the table was handed at the swap: a row's own text finds it.
    const [probe] = await withDb(PG, (q) => q<{ id: string; user_id: string; text: string }>(`SELECT id::text AS id, user_id, text FROM "${pcaTable}" WHERE source_index IS NOT NULL ORDER BY id LIMIT 1`));
    const found = await runCli(['query', ...targetArgs(PG), '--table', pcaTable, '--model', TINY_MODEL, '--user', probe?.user_id ?? '', '-k', '1', '--json', probe?.text ?? '']);
    expect(found.code, found.stderr).toBe(0);
    expect((found.lines[0]?.['hits'] as { id: string }[] | undefined)?.[0]?.id).toBe(probe?.id);
  }, 300_000);

  it('--vector-type halfvec: every number rounded to float16, every other column kept, the fingerprint names halfvec', async () => {
    const r = await runCli(['relayout', ...targetArgs(PG), '--table', halfTable, '--vector-type', 'halfvec', '--json']);
    expect(r.code, r.stderr).toBe(0);
    await withDb(PG, async (q) => {
      const [old] = await retiredOf(q, halfTable);
      const rows = await q<{ id: string; n: string; o: string; type: string; nf: string | null; of: string | null; same: boolean }>(
        `SELECT n.id::text AS id, n.embedding::text AS n, o.embedding::text AS o, pg_typeof(n.embedding)::text AS type, n.embedding_fingerprint AS nf, o.embedding_fingerprint AS of,
                (n.user_id, n.collection_name, n.text, n.metadata, n.created_at, n.updated_at, n.content_sha256, n.embedding_model, n.source_index, n.pca_model_id)
                  IS NOT DISTINCT FROM (o.user_id, o.collection_name, o.text, o.metadata, o.created_at, o.updated_at, o.content_sha256, o.embedding_model, o.source_index, o.pca_model_id) AS same
         FROM "${halfTable}" n JOIN "${old}" o USING (id)`,
      );
      expect(rows).toHaveLength(STORE_ROWS);
      for (const row of rows) {
        expect(row.type).toBe('halfvec');
        expect(row.same).toBe(true);
        const expected = vectorOf(row.o).map((x) => float16BitsToNumber(float32ToFloat16Bits(Math.fround(x))));
        // halfvec prints each float16 as the shortest float32 text: read back as a float32, it is exact.
        expect(vectorOf(row.n).map((x) => Math.fround(x))).toEqual(expected);
        expect(JSON.parse(row.nf ?? 'null')).toEqual({ ...(JSON.parse(row.of ?? 'null') as object), vectorType: 'halfvec' });
      }
    });
    // The re-typed table keeps taking loads: a migrate says which flag makes its column, and with
    // it reloads the stores into halfvec reusing the stored vectors (no row re-embedded, none mixed).
    const migrateArgs = ['migrate', ROOT, ...targetArgs(PG), '--table', halfTable, '--model', TINY_MODEL, '--no-backup', '--json'];
    const refused = await runCli(migrateArgs, { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/E_DIM_MISMATCH: table \S+ holds halfvec\(32\) but this run produces vector\(32\).*pass --reduce halfvec/);
    const again = await runCli([...migrateArgs, '--reduce', 'halfvec'], { env: { ENCRYPTION_MASTER_KEY: MASTER_KEY } });
    expect(again.code, again.stderr).toBe(1); // the shared data's failing stores
    const totals = (again.lines.find((l) => l['type'] === 'run-done')?.['report'] as { totals: { rowsLoaded: number; rowsReused: number } }).totals;
    expect(totals).toMatchObject({ rowsLoaded: STORE_ROWS, rowsReused: STORE_ROWS });
    const types = await withDb(PG, (q) => q<{ type: string; fingerprints: number; n: number }>(`SELECT pg_typeof(embedding)::text AS type, count(DISTINCT embedding_fingerprint)::int AS fingerprints, count(*)::int AS n FROM "${halfTable}" GROUP BY 1`));
    expect(types).toEqual([{ type: 'halfvec', fingerprints: 1, n: STORE_ROWS }]);
  }, 300_000);

  it('--dimensions 16 --reduce truncate: the first 16 numbers re-normalized, the fingerprint of the truncated space', async () => {
    const r = await runCli(['relayout', ...targetArgs(PG), '--table', truncTable, '--dimensions', '16', '--reduce', 'truncate', '--json']);
    expect(r.code, r.stderr).toBe(0);
    await withDb(PG, async (q) => {
      const [old] = await retiredOf(q, truncTable);
      const rows = await q<{ n: string; o: string; nf: string | null; of: string | null; pca: string | null }>(
        `SELECT n.embedding::text AS n, o.embedding::text AS o, n.embedding_fingerprint AS nf, o.embedding_fingerprint AS of, n.pca_model_id::text AS pca FROM "${truncTable}" n JOIN "${old}" o USING (id)`,
      );
      expect(rows).toHaveLength(STORE_ROWS);
      for (const row of rows) {
        const expected = Array.from(toUnit(Float32Array.from(vectorOf(row.o).slice(0, 16))));
        const got = vectorOf(row.n);
        expect(got).toHaveLength(16);
        got.forEach((x, i) => expect(Math.abs(x - (expected[i] as number))).toBeLessThan(1e-6));
        expect(row.pca).toBeNull();
        const before = JSON.parse(row.of ?? 'null') as Record<string, unknown>;
        expect(JSON.parse(row.nf ?? 'null')).toEqual({ ...before, dimensions: 16, sourceDimensions: 32, reduction: 'truncate' });
      }
      const [type] = await q<{ t: string }>(`SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'embedding'`, [`"${truncTable}"`]);
      expect(type?.t).toBe('vector(16)');
    });
    // query reads the truncation from the fingerprint: a row's own text finds that row first.
    const [probe] = await withDb(PG, (q) => q<{ id: string; user_id: string; text: string }>(`SELECT id::text AS id, user_id, text FROM "${truncTable}" WHERE source_index IS NOT NULL ORDER BY id LIMIT 1`));
    const found = await runCli(['query', ...targetArgs(PG), '--table', truncTable, '--model', TINY_MODEL, '--user', probe?.user_id ?? '', '-k', '1', '--json', probe?.text ?? '']);
    expect(found.code, found.stderr).toBe(0);
    expect((found.lines[0]?.['hits'] as { id: string }[] | undefined)?.[0]?.id).toBe(probe?.id);
    // More dimensions than the vectors have cannot come from truncation.
    const more = await runCli(['relayout', ...targetArgs(PG), '--table', truncTable, '--dimensions', '24']);
    expect(more.code).toBe(2);
    expect(more.stderr).toMatch(/E_USAGE.*--dimensions 24 is more than the 16/s);
  }, 300_000);
});

describe('relayout: interruption, resume, abort, dry run and refusals (pg)', () => {
  const table = `${PREFIX}_kill`;
  const small = `${PREFIX}_small`;
  const KILL_BULK = 20_000;

  beforeAll(async () => {
    await makeTable(PG, table, KILL_BULK);
    await makeTable(PG, small, 0);
  }, 300_000);

  it('--dry-run prints the plan, the space and a measured estimate, and writes nothing', async () => {
    const relations = (q: Query) => q<{ relname: string; n: number }>(`SELECT relname, relpages::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY relname`);
    const jobs = (q: Query) => q<{ n: number }>(`SELECT count(*)::int AS n FROM reembed_jobs`);
    const before = await withDb(PG, async (q) => ({ relations: await relations(q), jobs: await jobs(q) }));
    const r = await runCli(['relayout', ...targetArgs(PG), '--table', table, '--partitions', '4', '--vector-type', 'halfvec', '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const plan = r.lines.find((l) => l['type'] === 'relayout-plan')?.['plan'] as {
      from: unknown;
      to: unknown;
      rows: number;
      stores: number;
      space: { tableBytes: number; neededBytes: number };
      estimate: { sampleRows: number; copySeconds: number; method: string } | null;
    };
    expect(plan.from).toEqual({ partitions: null, vectorType: 'vector', dimensions: 32 });
    expect(plan.to).toEqual({ partitions: 4, vectorType: 'halfvec', dimensions: 32 });
    expect(plan.rows).toBe(STORE_ROWS + KILL_BULK);
    expect(plan.stores).toBeGreaterThan(1);
    expect(plan.space.tableBytes).toBeGreaterThan(0);
    // halfvec halves the vectors: the copy is smaller than the table.
    expect(plan.space.neededBytes).toBeLessThan(plan.space.tableBytes);
    expect(plan.estimate?.sampleRows).toBe(2000);
    expect(plan.estimate?.method).toMatch(/rolled back/);
    const after = await withDb(PG, async (q) => ({ relations: await relations(q), jobs: await jobs(q) }));
    expect(after.relations.map((r) => r.relname)).toEqual(before.relations.map((r) => r.relname));
    expect(after.jobs).toEqual(before.jobs);
    // The text form too.
    const text = await runCli(['relayout', ...targetArgs(PG), '--table', table, '--partitions', '4', '--dry-run'], { env: {} });
    expect(text.code, text.stderr).toBe(0);
  }, 300_000);

  it('a SIGKILL mid-copy, then a re-run resumes: no row copied twice, none lost, deleted rows pruned', async () => {
    let killed = false;
    const first = await watchCli(['relayout', ...targetArgs(PG), '--table', table, '--partitions', '4', '--page-rows', '100', '--json'], {
      timeoutMs: 300_000,
      onLine: (line, child) => {
        if (!killed && line.type === 'relayout-progress' && Number(line['done']) >= 300) {
          killed = true;
          child.kill('SIGKILL');
        }
      },
    });
    expect(first.signal).toBe('SIGKILL');
    const side = `${table}_reembed`;
    const [{ n: copiedAtKill } = { n: 0 }] = await withDb(PG, (q) => q<{ n: number }>(`SELECT count(*)::int AS n FROM "${side}"`));
    // Mid-copy: some pages committed, not all.
    expect(copiedAtKill).toBeGreaterThanOrEqual(300);
    expect(copiedAtKill).toBeLessThan(STORE_ROWS + KILL_BULK);

    // Meanwhile applications delete and change rows already copied (the smallest ids, page one) and add rows.
    await withDb(PG, async (q) => {
      await q(`DELETE FROM "${table}" WHERE id IN (SELECT id FROM "${table}" ORDER BY id LIMIT 10)`);
      await q(`UPDATE "${table}" SET text = text || ' (edited)' WHERE id IN (SELECT id FROM "${table}" ORDER BY id LIMIT 10)`);
      await q(
        `INSERT INTO "${table}" (id, user_id, collection_name, text, embedding) SELECT gen_random_uuid(), 'late', 'c', 'late ' || g, (SELECT array_agg(random() - 0.5) FROM generate_series(1, 32 + g * 0))::vector FROM generate_series(1, 5) g`,
      );
    });

    const second = await runCli(['relayout', ...targetArgs(PG), '--table', table, '--partitions', '4', '--page-rows', '100', '--json']);
    expect(second.code, second.stderr).toBe(0);
    const report = reportOf(second.lines);
    expect(report.resumed).toBe(true);
    const total = STORE_ROWS + KILL_BULK - 10 + 5;
    expect(report.rows.total).toBe(total);
    expect(report.rows.alreadyDone).toBe(copiedAtKill - 20);
    expect(report.rows.copied).toBe(total - report.rows.alreadyDone);
    expect(report.rows.pruned).toBe(10);
    await withDb(PG, async (q) => {
      const [counts] = await q<{ rows: number; ids: number }>(`SELECT count(*)::int AS rows, count(DISTINCT id)::int AS ids FROM "${table}"`);
      expect(counts).toEqual({ rows: total, ids: total });
      const [old] = await retiredOf(q, table);
      expect(await differingIds(q, table, old as string)).toEqual([]);
      expect(await partitionsOf(q, table)).toBe(4);
    });
  }, 600_000);

  it('--abort removes the unfinished side table and leaves the table untouched', async () => {
    const snapshot = (q: Query) => q<{ h: string; n: number }>(`SELECT md5(string_agg((t.*)::text, '|' ORDER BY id)) AS h, count(*)::int AS n FROM "${small}" t`);
    const before = await withDb(PG, snapshot);
    const r = await runCli(['relayout', ...targetArgs(PG), '--table', small, '--partitions', '4', '--no-swap', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(reportOf(r.lines).swap).toBeNull();
    const aborted = await runCli(['relayout', ...targetArgs(PG), '--table', small, '--abort', '--json']);
    expect(aborted.code, aborted.stderr).toBe(0);
    await withDb(PG, async (q) => {
      expect(await snapshot(q)).toEqual(before);
      const [side] = await q<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [`"${small}_reembed"`]);
      expect(side?.t).toBeNull();
      const [job] = await q<{ status: string }>(`SELECT status FROM reembed_jobs WHERE table_name = $1 ORDER BY started_at DESC LIMIT 1`, [small]);
      expect(job?.status).toBe('aborted');
    });
    const again = await runCli(['relayout', ...targetArgs(PG), '--table', small, '--abort']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/E_REEMBED.*no unfinished re-layout/s);
  }, 300_000);

  it('refuses: no change asked, the layout it has, a missing table, and a table already being re-embedded (and the other way round)', async () => {
    const none = await runCli(['relayout', ...targetArgs(PG), '--table', small]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/E_USAGE.*needs a layout change/s);
    const same = await runCli(['relayout', ...targetArgs(PG), '--table', small, '--vector-type', 'vector']);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/E_USAGE.*already vector\(32\), not partitioned; nothing to change/s);
    const missing = await runCli(['relayout', ...targetArgs(PG), '--table', `${PREFIX}_nope`, '--partitions', '4']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/E_USAGE.*does not exist/s);

    const reembed = await runCli(['reembed', ...targetArgs(PG), '--table', small, '--model', MODEL_48, '--no-swap', '--json']);
    expect(reembed.code, reembed.stderr).toBe(0);
    const refused = await runCli(['relayout', ...targetArgs(PG), '--table', small, '--partitions', '4']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/E_REEMBED.*unfinished re-embedding.*reembed --abort/s);
    expect((await runCli(['reembed', ...targetArgs(PG), '--table', small, '--abort'])).code).toBe(0);

    const started = await runCli(['relayout', ...targetArgs(PG), '--table', small, '--partitions', '4', '--no-swap', '--json']);
    expect(started.code, started.stderr).toBe(0);
    const other = await runCli(['reembed', ...targetArgs(PG), '--table', small, '--model', MODEL_48]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/E_REEMBED.*being re-laid out.*relayout --abort/s);
    // --swap alone finishes it with the layout it recorded.
    const swapped = await runCli(['relayout', ...targetArgs(PG), '--table', small, '--swap', '--json']);
    expect(swapped.code, swapped.stderr).toBe(0);
    expect(reportOf(swapped.lines).swap).not.toBeNull();
    await withDb(PG, async (q) => expect(await partitionsOf(q, small)).toBe(4));
  }, 300_000);
});

describe('relayout on PGlite', () => {
  let work: string;
  let target: Target;
  const table = 'docs_relayout';

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pvm-relayout-'));
    target = { driver: 'pglite', dir: path.join(work, 'db') };
    await makeTable(target, table, 0);
  }, 300_000);
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('re-partitions and swaps back the same way', async () => {
    const r = await runCli(['relayout', ...targetArgs(target), '--table', table, '--partitions', '4', '--vector-type', 'halfvec', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(reportOf(r.lines).rows.copied).toBe(STORE_ROWS);
    await withDb(target, async (q) => {
      expect(await partitionsOf(q, table)).toBe(4);
      const [old] = await retiredOf(q, table);
      const [diff] = await q<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${table}" n FULL JOIN "${old as string}" o USING (id) WHERE n.id IS NULL OR o.id IS NULL OR n.embedding IS DISTINCT FROM o.embedding::halfvec(32) OR n.metadata IS DISTINCT FROM o.metadata OR n.text IS DISTINCT FROM o.text`,
      );
      expect(diff?.n).toBe(0);
    });
    const back = await runCli(['relayout', ...targetArgs(target), '--table', table, '--swap-back', '--json']);
    expect(back.code, back.stderr).toBe(0);
    await withDb(target, async (q) => expect(await partitionsOf(q, table)).toBe(0));
  }, 300_000);
});
