/**
 * The embedding fingerprint on every row (written by loads, kept and restored by rollback, added
 * to tables of earlier versions by ensureSchema) and Sink.diagnose, the database side of
 * `doctor`. Run against PostgreSQL (pg) and PGlite alike; faults are made with direct SQL.
 */
import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { previousTable, resolveTable } from '../src/sink/identifiers.js';
import type { DocumentRow, StoreKey, TargetSpec, VectorType } from '../src/sink/types.js';
import { DRIVERS, expectMigrateError, inBatches, makeRow, quoted, uniqueTable, useHarness, vectorFor } from './helpers/db.js';

const DIMS = 4;
const FP_A = '{"model":"a","dims":4,"normalize":true}';
const FP_B = '{"model":"b","dims":4,"normalize":true}';
const ALICE: StoreKey = { userId: 'alice', collection: 'notes' };
const ALICE_OTHER: StoreKey = { userId: 'alice', collection: 'other' };
const BOB: StoreKey = { userId: 'bob', collection: 'notes' };

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A unit-length version of `v` (in float32, so its norm is 1 within ~1e-7). */
function unit(v: Float32Array): Float32Array {
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/** A row of `key` with a unit embedding, a real content hash and the given text and fingerprint. */
function rowOf(key: StoreKey, index: number, text: string, fingerprint?: string | null): DocumentRow {
  const row = makeRow(key.userId, key.collection, index, DIMS, { text, contentSha256: sha256(text) });
  const withVector = { ...row, embedding: unit(vectorFor(index + 7 * key.userId.length + key.collection.length, DIMS)) };
  return fingerprint === undefined ? withVector : { ...withVector, embeddingFingerprint: fingerprint };
}

describe.each(DRIVERS)('embedding fingerprint and diagnose (%s)', (driver) => {
  const ctx = useHarness(driver);

  /** `schema.docs` in a fresh schema (its own ledger), dropped with the schema after the test. */
  async function freshTable(): Promise<string> {
    const schema = uniqueTable('sink_doctor');
    await ctx.h.query(`CREATE SCHEMA "${schema}"`);
    return ctx.track(`${schema}.docs`);
  }

  async function freshTarget(vectorType: VectorType = 'vector'): Promise<TargetSpec> {
    const target = { table: await freshTable(), dimensions: DIMS, vectorType };
    await ctx.h.sink.schema.ensureSchema(target);
    return target;
  }

  async function startRun(table: string): Promise<string> {
    const id = randomUUID();
    await ctx.h.sink.ledger.startRun({ id, toolVersion: '9.9.9-test', options: {} }, { table });
    return id;
  }

  async function fingerprintColumns(table: string): Promise<{ t: string }[]> {
    return ctx.h.query<{ t: string }>(
      `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'embedding_fingerprint' AND NOT attisdropped`,
      [table],
    );
  }

  async function fingerprintsOf(table: string, key: StoreKey): Promise<{ source_index: number; fp: string | null }[]> {
    return ctx.h.query(`SELECT source_index, embedding_fingerprint AS fp FROM ${table} WHERE user_id = $1 AND collection_name = $2 ORDER BY source_index`, [
      key.userId,
      key.collection,
    ]);
  }

  describe('the column', () => {
    it('is added by ensureSchema, once, to a table and a _previous created before it', async () => {
      const table = await freshTable();
      const previous = previousTable(resolveTable(table)).quoted;
      // The previous version's DDL: pca_model_id and _previous, no embedding_fingerprint.
      await ctx.h.query(`CREATE EXTENSION IF NOT EXISTS vector`);
      await ctx.h.query(`CREATE TABLE ${quoted(table)} (
        id uuid PRIMARY KEY, user_id varchar(255) NOT NULL, collection_name varchar(255) NOT NULL, text text NOT NULL,
        embedding vector(${DIMS}) NOT NULL, metadata jsonb DEFAULT '{}', created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(),
        content_sha256 char(64) NOT NULL, embedding_model text NOT NULL, source_index integer NOT NULL, pca_model_id uuid)`);
      await ctx.h.query(`CREATE TABLE ${previous} (
        id uuid NOT NULL, user_id varchar(255) NOT NULL, collection_name varchar(255) NOT NULL, text text NOT NULL,
        embedding vector(${DIMS}) NOT NULL, metadata jsonb, created_at timestamptz, updated_at timestamptz,
        content_sha256 char(64) NOT NULL, embedding_model text NOT NULL, source_index integer NOT NULL, pca_model_id uuid,
        replaced_by_run uuid NOT NULL, replaced_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (replaced_by_run, id))`);
      await ctx.h.query(
        `INSERT INTO ${quoted(table)} (id, user_id, collection_name, text, embedding, content_sha256, embedding_model, source_index)
         VALUES ('11111111-1111-1111-1111-111111111111', 'old', 'c', 'legacy row', '[1,0,0,0]', repeat('a', 64), 'm', 0)`,
      );
      const target = { table, dimensions: DIMS };

      // A dry run and the reads are fine on it; loading before ensureSchema is not.
      expect(await ctx.h.sink.schema.inspect(target)).toMatchObject({ tableExists: true, tableDimensions: DIMS, previousTableExists: true });
      expect(await ctx.h.sink.reads.readStoreSummaries(target, { userId: 'old', collection: 'c' })).toHaveLength(1);
      expect((await ctx.h.sink.reads.diagnose(target)).fingerprints).toEqual([{ fingerprint: null, rows: 1 }]);
      await expectMigrateError(ctx.h.sink.loads.replaceStore(target, ALICE, inBatches([rowOf(ALICE, 0, 'x', FP_A)], 1)), 'E_SCHEMA', 'embedding_fingerprint', 'ensureSchema');

      await ctx.h.sink.schema.ensureSchema(target);
      await ctx.h.sink.schema.ensureSchema(target);
      expect(await fingerprintColumns(quoted(table))).toEqual([{ t: 'text' }]);
      expect(await fingerprintColumns(previous)).toEqual([{ t: 'text' }]);
      expect(await fingerprintsOf(quoted(table), { userId: 'old', collection: 'c' })).toEqual([{ source_index: 0, fp: null }]);

      const run = await startRun(table);
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches([rowOf(ALICE, 0, 'x', FP_A)], 1), { runId: run });
      expect(await fingerprintsOf(quoted(table), ALICE)).toEqual([{ source_index: 0, fp: FP_A }]);
      expect((await ctx.h.sink.reads.diagnose(target)).fingerprints).toEqual([
        { fingerprint: null, rows: 1 },
        { fingerprint: FP_A, rows: 1 },
      ]);
    });

    it('is created on new tables and on their _previous', async () => {
      const target = await freshTarget();
      expect(await fingerprintColumns(quoted(target.table))).toEqual([{ t: 'text' }]);
      expect(await fingerprintColumns(previousTable(resolveTable(target.table)).quoted)).toEqual([{ t: 'text' }]);
    });

    it('refuses to keep or restore rows through a _previous that lacks it, until ensureSchema adds it', async () => {
      const target = await freshTarget();
      const previous = previousTable(resolveTable(target.table));
      const run1 = await startRun(target.table);
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches([rowOf(ALICE, 0, 'one', FP_A)], 1), { runId: run1 });
      await ctx.h.query(`ALTER TABLE ${previous.quoted} DROP COLUMN embedding_fingerprint`);

      const run2 = await startRun(target.table);
      await expectMigrateError(ctx.h.sink.loads.replaceStore(target, ALICE, inBatches([rowOf(ALICE, 0, 'two', FP_B)], 1), { runId: run2 }), 'E_SCHEMA', previous.display, 'embedding_fingerprint');
      await expectMigrateError(ctx.h.sink.rollback.rollbackStore(target, ALICE, run1), 'E_SCHEMA', previous.display, 'embedding_fingerprint');
      // A load without run id keeps nothing, so it does not need _previous.
      await ctx.h.sink.loads.replaceStore(target, BOB, inBatches([rowOf(BOB, 0, 'bob', FP_B)], 1));

      await ctx.h.sink.schema.ensureSchema(target);
      expect(await fingerprintColumns(previous.quoted)).toEqual([{ t: 'text' }]);
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches([rowOf(ALICE, 0, 'two', FP_B)], 1), { runId: run2 });
      expect(await fingerprintsOf(quoted(target.table), ALICE)).toEqual([{ source_index: 0, fp: FP_B }]);
    });

    it('is written by loads (absent and null both NULL) and put back exactly by rollback', async () => {
      const target = await freshTarget();
      const table = quoted(target.table);
      const previous = previousTable(resolveTable(target.table)).quoted;
      const run1 = await startRun(target.table);
      const first = [rowOf(ALICE, 0, 'a0', FP_A), rowOf(ALICE, 1, 'a1', FP_A), rowOf(ALICE, 2, 'a2', null), rowOf(ALICE, 3, 'a3')];
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches(first, 3), { runId: run1 });
      const expectedFirst = [
        { source_index: 0, fp: FP_A },
        { source_index: 1, fp: FP_A },
        { source_index: 2, fp: null },
        { source_index: 3, fp: null },
      ];
      expect(await fingerprintsOf(table, ALICE)).toEqual(expectedFirst);
      const before = await ctx.h.query(`SELECT * , embedding::text AS embedding FROM ${table} ORDER BY id`);

      const run2 = await startRun(target.table);
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches([rowOf(ALICE, 0, 'b0', FP_B), rowOf(ALICE, 1, 'b1', FP_B)], 2), { runId: run2 });
      expect(await fingerprintsOf(table, ALICE)).toEqual([
        { source_index: 0, fp: FP_B },
        { source_index: 1, fp: FP_B },
      ]);
      // The replaced rows are kept with their fingerprints.
      expect(await fingerprintsOf(previous, ALICE)).toEqual(expectedFirst);

      expect(await ctx.h.sink.rollback.rollbackStore(target, ALICE, run2)).toEqual({ restored: 4, removed: 2 });
      expect(await fingerprintsOf(table, ALICE)).toEqual(expectedFirst);
      expect(await ctx.h.query(`SELECT * , embedding::text AS embedding FROM ${table} ORDER BY id`)).toEqual(before);
      expect(await fingerprintsOf(previous, ALICE)).toEqual([]);
    });
  });

  describe('diagnose', () => {
    /**
     * 10 rows: fingerprints A ×5, B ×4, NULL ×1; alice has 'shared' 3 times (two collections) and
     * 'twice' twice; bob has 'shared' once (not a duplicate: another user), an empty text and a
     * whitespace-only one.
     */
    async function loadFixture(target: TargetSpec) {
      const rows = {
        a0: rowOf(ALICE, 0, 'shared', FP_A),
        a1: rowOf(ALICE, 1, 'twice', FP_A),
        a2: rowOf(ALICE, 2, 'twice', FP_A),
        a3: rowOf(ALICE, 3, 'alice only', FP_B),
        a4: rowOf(ALICE, 4, 'from before fingerprints'),
        o0: rowOf(ALICE_OTHER, 0, 'shared', FP_A),
        o1: rowOf(ALICE_OTHER, 1, 'shared', FP_A),
        b0: rowOf(BOB, 0, 'shared', FP_B),
        b1: rowOf(BOB, 1, '', FP_B),
        b2: rowOf(BOB, 2, ' \t\n\r', FP_B),
      };
      await ctx.h.sink.loads.replaceStore(target, ALICE, inBatches([rows.a0, rows.a1, rows.a2, rows.a3, rows.a4], 2));
      await ctx.h.sink.loads.replaceStore(target, ALICE_OTHER, inBatches([rows.o0, rows.o1], 2));
      await ctx.h.sink.loads.replaceStore(target, BOB, inBatches([rows.b0, rows.b1, rows.b2], 2));
      const table = quoted(target.table);
      // Faults no embedder should produce: a zero vector and two non-unit ones, off by ≈ 0.0536 and
      // ≈ 0.02 (float16: 0.0195). The unit rows stay within 1e-3 in both types (float16 rounds
      // each element by at most 2^-11 of its size).
      await ctx.h.query(`UPDATE ${table} SET embedding = '[0,0,0,0]' WHERE id = $1`, [rows.a3.id]);
      await ctx.h.query(`UPDATE ${table} SET embedding = '[0.5,0.5,0.5,0.6]' WHERE id = $1`, [rows.o1.id]);
      await ctx.h.query(`UPDATE ${table} SET embedding = '[1.02,0,0,0]' WHERE id = $1`, [rows.b0.id]);
      return rows;
    }

    for (const vectorType of ['vector', 'halfvec'] as const) {
      it(`counts every fault exactly (${vectorType})`, async () => {
        const target = await freshTarget(vectorType);
        const rows = await loadFixture(target);
        const ro = await ctx.h.readOnlySink();
        const diagnosis = await ro.reads.diagnose({ table: target.table });
        expect(diagnosis).toEqual({
          table: target.table,
          rows: 10,
          fingerprints: [
            { fingerprint: FP_A, rows: 5 },
            { fingerprint: FP_B, rows: 4 },
            { fingerprint: null, rows: 1 },
          ],
          zeroVectors: { rows: 1, examples: [rows.a3.id] },
          nonNormalized: { rows: 2, examples: [rows.o1.id, rows.b0.id].sort(), tolerance: 1e-3 },
          duplicateTexts: {
            groups: 2,
            rows: 5,
            examples: [
              { userId: 'alice', contentSha256: sha256('shared'), rows: 3 },
              { userId: 'alice', contentSha256: sha256('twice'), rows: 2 },
            ],
          },
          missingText: { rows: 2, examples: [rows.b1.id, rows.b2.id].sort() },
          applicationRows: 0,
        });

        // A looser tolerance lets the row off by 0.02 pass; fewer examples keep the counts.
        const loose = await ctx.h.sink.reads.diagnose(target, { normTolerance: 0.03, examples: 1 });
        expect(loose.nonNormalized).toEqual({ rows: 1, examples: [rows.o1.id], tolerance: 0.03 });
        expect(loose.zeroVectors).toEqual({ rows: 1, examples: [rows.a3.id] });
        expect(loose.duplicateTexts).toEqual({ groups: 2, rows: 5, examples: [{ userId: 'alice', contentSha256: sha256('shared'), rows: 3 }] });
        expect(loose.missingText).toEqual({ rows: 2, examples: [[rows.b1.id, rows.b2.id].sort()[0]] });

        const counts = await ctx.h.sink.reads.diagnose(target, { examples: 0 });
        expect([counts.zeroVectors, counts.nonNormalized, counts.duplicateTexts, counts.missingText]).toEqual([
          { rows: 1, examples: [] },
          { rows: 2, examples: [], tolerance: 1e-3 },
          { groups: 2, rows: 5, examples: [] },
          { rows: 2, examples: [] },
        ]);
      });
    }

    it('reports an empty table as healthy', async () => {
      const target = await freshTarget();
      expect(await ctx.h.sink.reads.diagnose(target)).toEqual({
        table: target.table,
        rows: 0,
        fingerprints: [],
        zeroVectors: { rows: 0, examples: [] },
        nonNormalized: { rows: 0, examples: [], tolerance: 1e-3 },
        duplicateTexts: { groups: 0, rows: 0, examples: [] },
        missingText: { rows: 0, examples: [] },
        applicationRows: 0,
      });
    });

    it('refuses a missing table, a table that is not a documents table, and bad options', async () => {
      const table = await freshTable();
      await expectMigrateError(ctx.h.sink.reads.diagnose({ table }), 'E_SCHEMA', table, 'does not exist');
      const target = { table, dimensions: DIMS };
      await ctx.h.sink.schema.ensureSchema(target);
      const previous = previousTable(resolveTable(table)).display;
      await expectMigrateError(ctx.h.sink.reads.diagnose({ table: previous }), 'E_SCHEMA', 'replaced_by_run');
      await expectMigrateError(ctx.h.sink.reads.diagnose(target, { normTolerance: -1 }), 'E_USAGE', 'tolerance');
      await expectMigrateError(ctx.h.sink.reads.diagnose(target, { normTolerance: Number.NaN }), 'E_USAGE', 'tolerance');
      await expectMigrateError(ctx.h.sink.reads.diagnose(target, { examples: 1.5 }), 'E_USAGE', 'examples');
      await expectMigrateError(ctx.h.sink.reads.diagnose(target, { examples: 1001 }), 'E_USAGE', 'examples');
      await expectMigrateError(ctx.h.sink.reads.diagnose({ table: 'bad-name' }), 'E_USAGE', 'identifier');
    });
  });
});
