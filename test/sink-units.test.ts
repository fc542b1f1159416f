/** Pure pieces of the sink: binary COPY encoding, identifiers, SQL templates, redaction. */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MigrateError } from '../src/errors.js';
import { COPY_COLUMNS, encodeCopyPayload, encodeHeader, encodeRows, encodeTrailer } from '../src/sink/copyBinary.js';
import { indexName, quoteIdent, resolveTable, validateDimensions } from '../src/sink/identifiers.js';
import { describeUrl, redactSecrets, redactUrl, urlSecrets } from '../src/sink/redact.js';
import { loadSql, renderSql, sqlFile } from '../src/sink/sqlFiles.js';
import { makeRow } from './helpers/db.js';

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
    expect(o).toBe(buf.length);
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

  it('keeps index names within 63 bytes and distinct', () => {
    const long = resolveTable('t'.repeat(63));
    const a = indexName(long, 'user_collection_idx');
    const b = indexName(long, 'embedding_hnsw_idx');
    expect(a.length - 2).toBeLessThanOrEqual(63);
    expect(b.length - 2).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(indexName(resolveTable('s.docs'), 'x_idx')).toBe('"docs_x_idx"');
  });
});

describe('SQL files', () => {
  it('loads every file and fills placeholders', () => {
    for (const dir of ['schema', 'queries']) {
      for (const file of readdirSync(new URL(`../sql/${dir}/`, import.meta.url))) {
        expect(loadSql(`${dir}/${file}`).length).toBeGreaterThan(0);
      }
    }
    const ddl = sqlFile('schema/001_documents.sql', {
      table: quoteIdent('docs'),
      dimensions: validateDimensions(384),
      user_collection_index: quoteIdent('docs_idx'),
    });
    expect(ddl).toContain('CREATE TABLE IF NOT EXISTS "docs"');
    expect(ddl).toContain('vector(384)');
    expect(ddl).not.toContain('{{');
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
