/** Pure pieces of the sink: binary COPY encoding, identifiers, SQL templates, redaction. */
import { PLAIN_LAYOUT } from '../src/sink/tableLayout.js';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MigrateError } from '../src/errors.js';
import { encodeCopyPayload, encodeHeader, encodeRows, encodeTrailer } from '../src/sink/copyBinary.js';
import { COPY_COLUMNS } from '../src/sink/columns.js';
import { float16BitsToNumber, float32ToFloat16Bits, isFiniteFloat16 } from '../src/sink/float16.js';
import { indexName, ledgerOf, ledgerTables, pcaModelsTable, previousTable, quoteIdent, resolveTable, resolveVectorType, validateDimensions, vectorTypeSql } from '../src/sink/identifiers.js';
import { listMigrations } from '../src/sink/migrations.js';
import { decodeVectorSend } from '../src/sink/vectorSend.js';
import { bytesToFloat32, checkNewModel, float32ToBytes, float64ArrayLiteral, float64Text, float8SendToFloat64 } from '../src/sink/pcaModelRows.js';
import { schemaStatements, type TableShape } from '../src/sink/schema.js';
import type { NewPcaModel, VectorType, Distance } from '../src/sink/types.js';
import { describeUrl, redactSecrets, redactUrl, urlSecrets } from '../src/sink/redact.js';
import { loadSql, renderSql, sqlFile } from '../src/sink/sqlFiles.js';
import { makeRow, referenceFloat16 } from './helpers/db.js';

describe('binary COPY encoder', () => {
  it('writes the PGCOPY header and trailer', () => {
    expect([...encodeHeader()]).toEqual([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect([...encodeTrailer()]).toEqual([0xff, 0xff]);
  });

  it('lays out one tuple field by field', () => {
    const row = makeRow('ü', 'c', 7, 2, {
      id: '00112233-4455-6677-8899-aabbccddeeff',
      text: 'a\tb',
      embedding: new Float32Array([1.5, -2]),
      metadataJson: '{"k":"é"}',
      contentSha256: 'f'.repeat(64),
      embeddingModel: 'm',
      sourceIndex: -3,
    });
    const buf = encodeRows([row]);
    let o = 0;
    const int16 = () => ((o += 2), buf.readInt16BE(o - 2));
    const int32 = () => ((o += 4), buf.readInt32BE(o - 4));
    const bytes = (n: number) => ((o += n), buf.subarray(o - n, o));
    expect(int16()).toBe(COPY_COLUMNS.length);
    expect(int32()).toBe(16);
    expect(bytes(16).toString('hex')).toBe('00112233445566778899aabbccddeeff');
    expect(int32()).toBe(2); // 'ü' is 2 UTF-8 bytes
    expect(bytes(2).toString('utf8')).toBe('ü');
    expect(int32()).toBe(1);
    expect(bytes(1).toString()).toBe('c');
    expect(int32()).toBe(3);
    expect(bytes(3).toString()).toBe('a\tb');
    // vector: int16 dim, int16 unused, float4 big-endian
    expect(int32()).toBe(4 + 8);
    expect(int16()).toBe(2);
    expect(int16()).toBe(0);
    expect(bytes(8).toString('hex')).toBe('3fc00000c0000000');
    // jsonb: version 1 + text
    expect(int32()).toBe(1 + Buffer.byteLength('{"k":"é"}'));
    expect(bytes(1)[0]).toBe(1);
    expect(bytes(Buffer.byteLength('{"k":"é"}')).toString()).toBe('{"k":"é"}');
    expect(int32()).toBe(64);
    expect(bytes(64).toString()).toBe('f'.repeat(64));
    expect(int32()).toBe(1);
    expect(bytes(1).toString()).toBe('m');
    expect(int32()).toBe(4);
    expect(int32()).toBe(-3);
    // pca_model_id: NULL when the row was not projected
    expect(int32()).toBe(-1);
    // embedding_fingerprint: NULL when absent
    expect(int32()).toBe(-1);
    expect(o).toBe(buf.length);
  });

  it('writes the embedding fingerprint as text (absent and null both NULL)', () => {
    const fingerprint = '{"model":"é","dims":2}';
    const row = makeRow('u', 'c', 0, 2, { embeddingFingerprint: fingerprint });
    const withFingerprint = encodeRows([row]);
    const without = encodeRows([makeRow('u', 'c', 0, 2)]);
    const length = Buffer.byteLength(fingerprint, 'utf8');
    expect(withFingerprint.length).toBe(without.length + length);
    expect(withFingerprint.readInt32BE(withFingerprint.length - length - 4)).toBe(length);
    expect(withFingerprint.subarray(withFingerprint.length - length).toString('utf8')).toBe(fingerprint);
    expect(without.readInt32BE(without.length - 4)).toBe(-1);
    expect(encodeRows([makeRow('u', 'c', 0, 2, { embeddingFingerprint: null })])).toEqual(without);
    expect(COPY_COLUMNS.at(-1)).toBe('embedding_fingerprint');
  });

  it('writes halfvec elements as big-endian binary16 and the PCA model id as a uuid', () => {
    const row = makeRow('u', 'c', 0, 4, {
      embedding: new Float32Array([1.5, -2, 65504, 1 + 2 ** -11]),
      pcaModelId: 'ffeeddcc-bbaa-9988-7766-554433221100',
    });
    const buf = encodeRows([row], { vectorType: 'halfvec' });
    const vectorAt = 2 + 4 + 16 + (4 + 1) * 2 + 4 + Buffer.byteLength(row.text);
    expect(buf.readInt32BE(vectorAt)).toBe(4 + 2 * 4);
    expect(buf.readInt16BE(vectorAt + 4)).toBe(4);
    expect(buf.readInt16BE(vectorAt + 6)).toBe(0);
    // 1.5 = 0x3e00, -2 = 0xc000, 65504 = 0x7bff, 1 + 2^-11 is a tie that rounds to even: 1 = 0x3c00
    expect(buf.subarray(vectorAt + 8, vectorAt + 16).toString('hex')).toBe('3e00c0007bff3c00');
    // pca_model_id, then embedding_fingerprint (absent: NULL, length -1) last.
    expect(buf.readInt32BE(buf.length - 24)).toBe(16);
    expect(buf.subarray(buf.length - 20, buf.length - 4).toString('hex')).toBe('ffeeddccbbaa99887766554433221100');
    expect(buf.readInt32BE(buf.length - 4)).toBe(-1);
    // The same row as a vector: 4 bytes per element, so 8 more bytes in all.
    expect(encodeRows([row]).length).toBe(buf.length + 8);
  });

  it('refuses a float that overflows binary16 with E_VECTOR, and a bad PCA model id with E_LOAD', () => {
    const big = makeRow('u', 'c', 3, 3, { embedding: new Float32Array([1, 65520, 0]) });
    expect(() => encodeRows([big], { vectorType: 'halfvec' })).toThrowError(expect.objectContaining({ code: 'E_VECTOR', message: expect.stringContaining('embedding[1] = 65520') }) as Error);
    expect(() => encodeRows([big], { vectorType: 'halfvec' })).toThrowError(/u\/c/);
    // Fine as float32, and just under the rounding boundary fine as float16 (rounds to 65504).
    expect(encodeRows([big]).length).toBeGreaterThan(0);
    const under = makeRow('u', 'c', 3, 2, { embedding: new Float32Array([65519.99609375, -65519.99609375]) });
    expect(encodeRows([under], { vectorType: 'halfvec' }).length).toBeGreaterThan(0);
    const badId = makeRow('u', 'c', 5, 2, { pcaModelId: 'model-1' });
    expect(() => encodeRows([badId])).toThrowError(expect.objectContaining({ code: 'E_LOAD', message: expect.stringContaining('PCA model id "model-1"') }) as Error);
  });

  it('encodes several rows back to back and wraps a payload', () => {
    const rows = [makeRow('u', 'c', 0, 3), makeRow('u', 'c', 1, 3)];
    const one = encodeRows([rows[0]!]);
    const both = encodeRows(rows);
    expect(both.subarray(0, one.length).equals(one)).toBe(true);
    expect(encodeRows([]).length).toBe(0);
    const payload = encodeCopyPayload(rows);
    expect(payload.length).toBe(19 + both.length + 2);
  });

  it.each([
    ['a non-UUID id', { id: 'not-a-uuid' }, 'UUID'],
    ['a NaN', { embedding: new Float32Array([1, Number.NaN]) }, 'NaN'],
    ['an infinity', { embedding: new Float32Array([Number.POSITIVE_INFINITY, 1]) }, 'Infinity'],
    ['an empty vector', { embedding: new Float32Array(0) }, '0 dimensions'],
    ['a fractional index', { sourceIndex: 1.5 }, '32-bit'],
    ['a huge index', { sourceIndex: 2 ** 31 }, '32-bit'],
  ])('refuses %s with E_LOAD naming the row', (_name, override, fragment) => {
    const row = makeRow('u', 'c', 4, 2, override);
    expect(() => encodeRows([row])).toThrowError(MigrateError);
    try {
      encodeRows([row]);
    } catch (e) {
      expect((e as MigrateError).code).toBe('E_LOAD');
      expect((e as MigrateError).message).toContain('u/c');
      expect((e as MigrateError).message).toContain(fragment);
    }
  });
});

describe('identifiers', () => {
  it('quotes valid names and resolves schema.table', () => {
    expect(quoteIdent('vector_documents')).toBe('"vector_documents"');
    expect(resolveTable('vector_documents')).toMatchObject({ schema: null, name: 'vector_documents', quoted: '"vector_documents"' });
    expect(resolveTable('app.docs')).toMatchObject({ schema: 'app', name: 'docs', quoted: '"app"."docs"', regclassText: '"app"."docs"' });
  });

  it('refuses anything else with E_USAGE', () => {
    for (const bad of ['', 'a-b', 'A', 'a b', '"a"', 'a;b', 'x'.repeat(64), 'a.b.c', 'a.', '9a']) {
      expect(() => resolveTable(bad), bad).toThrowError(expect.objectContaining({ code: 'E_USAGE' }) as Error);
    }
  });

  it('validates dimensions 1..16000', () => {
    expect(validateDimensions(1)).toBe('1');
    expect(validateDimensions(16000)).toBe('16000');
    for (const bad of [0, 16001, 2.5, Number.NaN, Number.POSITIVE_INFINITY, -3]) {
      expect(() => validateDimensions(bad)).toThrowError(expect.objectContaining({ code: 'E_USAGE' }) as Error);
    }
  });

  it('places the PCA models table in the documents table schema and reserves its name', () => {
    expect(pcaModelsTable(resolveTable('docs')).quoted).toBe('"vector_pca_models"');
    expect(pcaModelsTable(resolveTable('app.docs')).quoted).toBe('"app"."vector_pca_models"');
    expect(() => pcaModelsTable(resolveTable('vector_pca_models'))).toThrowError(expect.objectContaining({ code: 'E_USAGE' }) as Error);
    expect(() => pcaModelsTable(resolveTable('app.vector_pca_models'))).toThrowError(expect.objectContaining({ code: 'E_USAGE' }) as Error);
  });

  it('accepts vector and halfvec only', () => {
    expect(resolveVectorType(undefined)).toBe('vector');
    expect(resolveVectorType('halfvec')).toBe('halfvec');
    for (const bad of ['sparsevec', 'HALFVEC', 'vector; DROP TABLE x', '']) {
      expect(() => resolveVectorType(bad as VectorType), bad).toThrowError(expect.objectContaining({ code: 'E_USAGE' }) as Error);
    }
  });

  it('keeps index names within 63 bytes and distinct', () => {
    const long = resolveTable('t'.repeat(63));
    const a = indexName(long, 'user_collection_idx');
    const b = indexName(long, 'embedding_hnsw_idx');
    expect(a.length - 2).toBeLessThanOrEqual(63);
    expect(b.length - 2).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(indexName(resolveTable('s.docs'), 'x_idx')).toBe('"docs_x_idx"');
  });

  it('names the previous-rows table next to its table, within 63 bytes, deterministically', () => {
    expect(previousTable(resolveTable('docs')).quoted).toBe('"docs_previous"');
    expect(previousTable(resolveTable('app.docs')).quoted).toBe('"app"."docs_previous"');
    const fits = 'f'.repeat(54);
    expect(previousTable(resolveTable(fits)).name).toBe(`${fits}_previous`);
    const long = previousTable(resolveTable('t'.repeat(63)));
    expect(long.name).toHaveLength(63);
    expect(long.name).toMatch(/^t+_[0-9a-f]{8}_previous$/);
    expect(previousTable(resolveTable('t'.repeat(63))).name).toBe(long.name);
    // Two long names sharing their first 45 characters still differ.
    expect(previousTable(resolveTable(`${'t'.repeat(60)}abc`)).name).not.toBe(previousTable(resolveTable(`${'t'.repeat(60)}abd`)).name);
    // The index of a shortened previous-rows table is itself within the limit.
    expect(indexName(long, 'store_idx').length - 2).toBeLessThanOrEqual(63);
  });

  it('places the ledger in the documents table schema and reserves its names', () => {
    expect(ledgerOf(resolveTable('app.docs')).runs.quoted).toBe('"app"."migration_runs"');
    expect(ledgerOf(resolveTable('docs')).stores.quoted).toBe('"migration_stores"');
    expect(ledgerTables(null).sql).toMatchObject({ migrations: '"pgvector_migrate_migrations"', replacements: '"migration_replacements"', stores_latest_index: '"migration_stores_latest_idx"' });
    for (const name of ['migration_runs', 'app.migration_stores', 'migration_replacements', 'pgvector_migrate_migrations']) {
      expect(() => ledgerOf(resolveTable(name))).toThrowError(expect.objectContaining({ code: 'E_USAGE' }) as Error);
    }
  });
});

describe('migrations', () => {
  it('numbers the migration files 1, 2, … and fills every placeholder of each', () => {
    const migrations = listMigrations();
    expect(migrations.map((m) => [m.version, m.name, m.file])).toEqual([
      [1, 'ledger', 'migrations/001_ledger.sql'],
      [2, 'replacements', 'migrations/002_replacements.sql'],
      [3, 'reembed_jobs', 'migrations/003_reembed_jobs.sql'],
      [4, 'run_interrupted', 'migrations/004_run_interrupted.sql'],
      [5, 'stores_embedding_fingerprint', 'migrations/005_stores_embedding_fingerprint.sql'],
    ]);
    const ledger = ledgerTables('app');
    for (const m of migrations) {
      const sql = sqlFile(m.file, ledger.sql);
      expect(sql).not.toContain('{{');
      // Idempotent: every CREATE is IF NOT EXISTS.
      expect(sql.match(/CREATE (UNIQUE )?(TABLE|INDEX)(?! IF NOT EXISTS)/g)).toBeNull();
      expect(sql).toContain('"app".');
    }
  });
});

describe('vector send form', () => {
  it('decodes vector_send and halfvec_send exactly, from any byte offset', () => {
    const values = new Float32Array([-0, 1.401298464324817e-45, 0.1, -3.4028234663852886e38]);
    const vector = Buffer.alloc(5 + 4 * values.length);
    vector.writeInt16BE(values.length, 1);
    values.forEach((v, i) => vector.writeFloatBE(v, 5 + 4 * i));
    const back = decodeVectorSend(vector.subarray(1), 'vector');
    expect(Buffer.from(back.buffer).toString('hex')).toBe(Buffer.from(values.buffer).toString('hex'));

    const half = Buffer.from([0, 3, 0, 0, 0x3c, 0x00, 0x80, 0x00, 0x2e, 0x66]);
    expect(Array.from(decodeVectorSend(half, 'halfvec'))).toEqual([1, -0, float16BitsToNumber(0x2e66)]);
    expect(Object.is(decodeVectorSend(half, 'halfvec')[1], -0)).toBe(true);
    expect(() => decodeVectorSend(half, 'vector')).toThrowError(expect.objectContaining({ code: 'E_INTERNAL' }) as Error);
    expect(() => decodeVectorSend('[1,2]', 'vector')).toThrowError(expect.objectContaining({ code: 'E_INTERNAL' }) as Error);
  });
});

describe('SQL files', () => {
  it('loads every file and fills placeholders', () => {
    for (const dir of ['schema', 'queries', 'migrations']) {
      for (const file of readdirSync(new URL(`../sql/${dir}/`, import.meta.url))) {
        expect(loadSql(`${dir}/${file}`).length).toBeGreaterThan(0);
      }
    }
    const ddl = sqlFile('schema/001_documents.sql', {
      table: quoteIdent('docs'),
      vector_type: vectorTypeSql('halfvec'),
      dimensions: validateDimensions(384),
      user_collection_index: quoteIdent('docs_idx'),
      ...PLAIN_LAYOUT,
    });
    expect(ddl).toContain('CREATE TABLE IF NOT EXISTS "docs"');
    expect(ddl).toContain('PRIMARY KEY (id)\n) ;');
    expect(ddl).toContain('embedding       halfvec(384) NOT NULL');
    expect(ddl).not.toContain('{{');
  });

  it('plans the DDL: HNSW index per type limit, models table, pca_model_id and embedding_fingerprint only when missing', () => {
    const absent: TableShape = { exists: false, dimensions: null, vectorType: null, embeddingType: null, missingColumns: [], hasPcaModelColumn: false, hasFingerprintColumn: false, columns: [], provenanceNotNull: false };
    const legacy: TableShape = { ...absent, exists: true, dimensions: 8, vectorType: 'vector', embeddingType: 'vector(8)', hasPcaModelColumn: false };
    const current: TableShape = { ...legacy, hasPcaModelColumn: true, hasFingerprintColumn: true };
    const plan = (dims: number, type: VectorType, shape: TableShape, modelsExist: boolean, distance: Distance = 'cosine', previousExists = true, previousHasFingerprint = previousExists, previousNotNull = false) =>
      schemaStatements(resolveTable('app.docs'), dims, type, distance, shape, modelsExist, { exists: previousExists, hasFingerprintColumn: previousHasFingerprint, provenanceNotNull: previousNotNull }).join('\n');

    expect(plan(2000, 'vector', absent, false)).toContain('USING hnsw (embedding vector_cosine_ops)');
    expect(plan(2001, 'vector', absent, false)).not.toContain('hnsw');
    expect(plan(4000, 'halfvec', absent, false)).toContain('USING hnsw (embedding halfvec_cosine_ops)');
    expect(plan(4000, 'halfvec', absent, false)).toContain('embedding       halfvec(4000) NOT NULL');
    expect(plan(4001, 'halfvec', absent, false)).not.toContain('hnsw');
    // Tables of PCA projections are searched by L2, so their index serves <->.
    expect(plan(2000, 'vector', absent, false, 'l2')).toContain('USING hnsw (embedding vector_l2_ops)');
    expect(plan(3000, 'halfvec', absent, false, 'l2')).toContain('USING hnsw (embedding halfvec_l2_ops)');

    const fresh = plan(8, 'vector', absent, false);
    expect(fresh).toContain('CREATE TABLE IF NOT EXISTS "app"."vector_pca_models"');
    expect(fresh).toContain('CREATE UNIQUE INDEX IF NOT EXISTS "vector_pca_models_one_active_idx" ON "app"."vector_pca_models" (table_name) WHERE active');
    expect(fresh).toContain('ALTER TABLE "app"."docs" ADD COLUMN IF NOT EXISTS pca_model_id uuid REFERENCES "app"."vector_pca_models" (id)');
    expect(plan(8, 'vector', legacy, true)).toContain('ADD COLUMN IF NOT EXISTS pca_model_id');
    expect(plan(8, 'vector', legacy, true)).not.toContain('CREATE TABLE IF NOT EXISTS "app"."vector_pca_models"');
    expect(plan(8, 'vector', current, true)).not.toMatch(/ALTER TABLE|vector_pca_models/);
    // The previous-rows table only when missing, with the documents table's type and dimension.
    expect(plan(8, 'vector', current, true)).not.toContain('docs_previous');
    const previous = plan(3000, 'halfvec', current, true, 'cosine', false);
    expect(previous).toContain('CREATE TABLE IF NOT EXISTS "app"."docs_previous"');
    expect(previous).toContain('embedding       halfvec(3000) NOT NULL');
    expect(previous).toContain('CREATE INDEX IF NOT EXISTS "docs_previous_store_idx" ON "app"."docs_previous"');
    // embedding_fingerprint: on each table where it is missing, after 005 created the previous-rows table.
    expect(previous).toContain('ALTER TABLE "app"."docs_previous" ADD COLUMN IF NOT EXISTS embedding_fingerprint text');
    expect(previous.indexOf('ALTER TABLE "app"."docs_previous"')).toBeGreaterThan(previous.indexOf('CREATE TABLE IF NOT EXISTS "app"."docs_previous"'));
    expect(previous).not.toContain('ALTER TABLE "app"."docs" ADD COLUMN IF NOT EXISTS embedding_fingerprint');
    expect(fresh).toContain('ALTER TABLE "app"."docs" ADD COLUMN IF NOT EXISTS embedding_fingerprint text');
    expect(plan(8, 'vector', { ...current, hasFingerprintColumn: false }, true)).toContain('ALTER TABLE "app"."docs" ADD COLUMN IF NOT EXISTS embedding_fingerprint text');
    expect(plan(8, 'vector', { ...current, hasFingerprintColumn: false }, true)).not.toContain('docs_previous');
    expect(plan(8, 'vector', current, true, 'cosine', true, false)).toMatch(/^ALTER TABLE "app"\."docs_previous" ADD COLUMN IF NOT EXISTS embedding_fingerprint text;$/m);
    expect(plan(8, 'vector', current, true, 'cosine', true, false)).not.toContain('ALTER TABLE "app"."docs" ');
    // Provenance columns made nullable (application rows) only on the table whose catalog still says NOT NULL.
    expect(plan(8, 'vector', { ...current, provenanceNotNull: true }, true)).toMatch(/^ALTER TABLE "app"\."docs"\n {2}ALTER COLUMN content_sha256 DROP NOT NULL,/m);
    expect(plan(8, 'vector', { ...current, provenanceNotNull: true }, true)).not.toContain('docs_previous');
    expect(plan(8, 'vector', current, true, 'cosine', true, true, true)).toMatch(/^ALTER TABLE "app"\."docs_previous"\n {2}ALTER COLUMN content_sha256 DROP NOT NULL,/m);
    expect(plan(8, 'vector', current, true)).not.toContain('DROP NOT NULL');
    expect(fresh).not.toContain('DROP NOT NULL');
    expect(fresh).toContain('content_sha256  char(64),\n');
  });

  it('fails loudly on an unfilled placeholder or a missing file', () => {
    expect(() => renderSql('SELECT * FROM {{table}}', {})).toThrowError(/\{\{table\}\}/);
    expect(() => loadSql('queries/nope.sql')).toThrowError(expect.objectContaining({ code: 'E_INTERNAL' }) as Error);
  });
});

describe('redaction', () => {
  const url = 'postgres://admin:s3cr%40t-pw@db.example:6543/prod?sslmode=require';

  it('masks the password of a URL, in userinfo or as a parameter', () => {
    expect(redactUrl(url)).toBe('postgres://admin:***@db.example:6543/prod?sslmode=require');
    expect(redactUrl('postgres://u@h/db?password=hunter2')).not.toContain('hunter2');
    expect(redactUrl('postgres://u:p w@[bad')).not.toContain('p w');
    expect(redactUrl('postgres://h/db')).toBe('postgres://h/db');
  });

  it('reads Unix-socket URLs with an empty host as node-postgres does (postgres://user@/db?host=/dir)', () => {
    const socket = 'postgres://postgres@/pgvm?host=/var/run/postgresql';
    expect(redactUrl(socket)).toBe(socket);
    expect(describeUrl(socket)).toBe('/var/run/postgresql:5432/pgvm');
    expect(redactUrl('postgres://u:hunter2@/db?host=/tmp')).toBe('postgres://u:***@/db?host=/tmp');
    expect(urlSecrets('postgres://u:hunter2@/db?host=/tmp')).toEqual(['hunter2']);
    expect(describeUrl('postgres:///db?host=/tmp&port=5433')).toBe('/tmp:5433/db');
  });

  it('masks every form of the password in free text', () => {
    const secrets = urlSecrets(url);
    expect(secrets).toContain('s3cr@t-pw');
    expect(secrets).toContain('s3cr%40t-pw');
    expect(redactSecrets('failed for s3cr@t-pw and s3cr%40t-pw', secrets)).toBe('failed for *** and ***');
    expect(urlSecrets('postgres://u@h/db')).toEqual([]);
  });

  it('describes a URL as host:port/database', () => {
    expect(describeUrl(url)).toBe('db.example:6543/prod');
    expect(describeUrl('postgres://u:p@localhost/app')).toBe('localhost:5432/app');
  });
});

describe('database URL checks', () => {
  it.each([
    ['postgres://u:secret1@[bad/x', 'secret1'],
    ['garbage:secret2@host', 'secret2'],
    ['host=localhost password=secret3', 'secret3'],
  ])('refuses %j with E_USAGE and without echoing the password', async (url, secret) => {
    const { openSink } = await import('../src/sink/index.js');
    const error = await openSink({ databaseUrl: url, pgliteDir: '/nonexistent' }).then(
      () => null,
      (e: unknown) => e as MigrateError,
    );
    expect(error?.code).toBe('E_USAGE');
    expect(error?.message).not.toContain(secret);
  });
});

/** The float32 next to `x` (a float32) towards +/- infinity. */
function nextFloat32(x: number, direction: 1 | -1): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  // Positive values only here: larger magnitude = larger bit pattern.
  u[0] = (u[0] as number) + direction;
  return f[0] as number;
}

describe('float16 conversion', () => {
  it('knows the landmark values', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // a tie between 0 and the smallest subnormal: even is 0
      [3 * 2 ** -25, 0x0002], // a tie between 1 and 2 units: even is 2
      [1.401298464324817e-45, 0x0000], // float32 subnormals underflow to 0
      [-1e-30, 0x8000],
      [65520, 0x7c00],
      [3.4028234663852886e38, 0x7c00],
      [Number.NEGATIVE_INFINITY, 0xfc00],
    ];
    for (const [value, bits] of cases) expect(float32ToFloat16Bits(value).toString(16), String(value)).toBe(bits.toString(16));
    expect(isFiniteFloat16(float32ToFloat16Bits(Number.NaN))).toBe(false);
    expect(Number.isNaN(float16BitsToNumber(0x7e00))).toBe(true);
    expect(isFiniteFloat16(0x7bff)).toBe(true);
    expect(isFiniteFloat16(0x7c00)).toBe(false);
  });

  it('maps every finite float16 to itself, and every midpoint to the even neighbour', () => {
    for (let bits = 0; bits <= 0xffff; bits++) {
      if (!isFiniteFloat16(bits)) continue;
      const value = float16BitsToNumber(bits);
      const back = float32ToFloat16Bits(value);
      if (back !== bits) expect(back.toString(16), `0x${bits.toString(16)} = ${value}`).toBe(bits.toString(16));
    }
    for (let bits = 0; bits < 0x7bff; bits++) {
      const low = float16BitsToNumber(bits);
      const mid = (low + float16BitsToNumber(bits + 1)) / 2; // 12 significant bits: a float32
      const even = bits % 2 === 0 ? bits : bits + 1;
      const got = { mid: float32ToFloat16Bits(mid), below: float32ToFloat16Bits(nextFloat32(mid, -1)), above: float32ToFloat16Bits(nextFloat32(mid, 1)) };
      if (got.mid !== even || got.below !== bits || got.above !== bits + 1) {
        expect(got, `between 0x${bits.toString(16)} and the next`).toEqual({ mid: even, below: bits, above: bits + 1 });
      }
    }
    // Past the largest finite value: the midpoint towards 65536 already rounds to infinity.
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00);
    expect(float32ToFloat16Bits(nextFloat32(65520, -1))).toBe(0x7bff);
  });

  it('agrees with an independent rounding on random float32 values', () => {
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    let seed = 12345;
    for (let i = 0; i < 200_000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      // Exponents from 2^-30 to 2^17 (zero, subnormal, normal and overflowing float16 results).
      const exponent = 97 + (seed % 48);
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      u32[0] = ((seed & 1) << 31) | (exponent << 23) | (seed >>> 9);
      const x = f32[0] as number;
      const got = float16BitsToNumber(float32ToFloat16Bits(x));
      const expected = referenceFloat16(x);
      if (!Object.is(got, expected)) expect(got, `f16(${x})`).toBe(expected);
    }
  });
});

describe('PCA model bytes', () => {
  it('round-trips float32 and float64 arrays bit for bit, from any byte offset', () => {
    const values = new Float32Array([0, -0, 1 / 3, 3.4028234663852886e38, 1.401298464324817e-45, -1.1754943508222875e-38, Math.PI]);
    // A Buffer slice at an odd offset, as pg hands bytea back (a view into a pooled buffer).
    const pool = Buffer.alloc(64 + values.byteLength);
    const bytes = float32ToBytes(values);
    bytes.copy(pool, 7);
    const slice = pool.subarray(7, 7 + bytes.length);
    expect(slice.byteOffset % 4).not.toBe(0);
    const back = bytesToFloat32(slice);
    expect(Buffer.from(back.buffer).equals(Buffer.from(values.buffer))).toBe(true);
    expect(Object.is(back[1], -0)).toBe(true);
    // Little-endian on the wire, whatever the platform.
    expect([...float32ToBytes(new Float32Array([1]))]).toEqual([0, 0, 0x80, 0x3f]);

  });

  it('writes doubles as exact decimal text and reads float8send bytes, from any byte offset', () => {
    expect(float64ArrayLiteral(new Float64Array([0.1 + 0.2, -0, 5e-324, 1.7976931348623157e308, 1e21]))).toBe('{0.30000000000000004,-0,5e-324,1.7976931348623157e+308,1e+21}');
    expect(float64Text(-0)).toBe('-0');
    // float8send(0.30000000000000004) || float8send(-0), at an odd offset of a larger buffer.
    const pool = Buffer.alloc(40);
    Buffer.from('3fd33333333333348000000000000000', 'hex').copy(pool, 3);
    const back = float8SendToFloat64(pool.subarray(3, 19));
    expect(back[0]).toBe(0.1 + 0.2);
    expect(Object.is(back[1], -0)).toBe(true);
  });

  it('refuses inconsistent models before they reach the database', () => {
    const good: NewPcaModel = {
      table: 'docs',
      sourceDimensions: 3,
      targetDimensions: 2,
      mean: new Float32Array(3),
      components: new Float32Array(6),
      explainedVariance: new Float64Array(2),
      totalVariance: 1,
      sampleSize: 10,
      method: 'covariance-eigh',
      fit: {},
      evaluation: new Float32Array(6),
      evaluationRows: 2,
    };
    expect(() => checkNewModel(good)).not.toThrow();
    const bad: [Partial<NewPcaModel>, string][] = [
      [{ targetDimensions: 4 }, 'target dimension 4'],
      [{ components: new Float32Array(5) }, 'components holds 5 values, expected 6'],
      [{ mean: new Float32Array([0, Number.NaN, 0]) }, 'mean[1] is NaN'],
      [{ explainedVariance: new Float64Array([1, Number.POSITIVE_INFINITY]) }, 'explainedVariance[1] is Infinity'],
      [{ evaluationRows: 3 }, 'evaluation holds 6 values, expected 9'],
      [{ totalVariance: Number.NaN }, 'total variance'],
      [{ method: '' }, 'method'],
      [{ sampleSize: -1 }, 'sampleSize'],
    ];
    for (const [override, fragment] of bad) {
      expect(() => checkNewModel({ ...good, ...override }), fragment).toThrowError(expect.objectContaining({ code: 'E_INTERNAL', message: expect.stringContaining(fragment) }) as Error);
    }
  });
});
