/** Opening the sink: driver choice, read-only (dry run) mode, connection failures without secrets. */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MigrateError } from '../src/errors.js';
import { openSink } from '../src/sink/index.js';
import { pgliteSinkFrom } from '../src/sink/pgliteSink.js';
import { inBatches, makeRows, TEST_DATABASE_URL, uniqueTable } from './helpers/db.js';

const DIMS = 4;

/** How the sink names the test database in messages: host:port/database, never the credentials. */
const TEST_DB_LOCATION = (() => {
  const url = new URL(TEST_DATABASE_URL);
  return `${url.hostname}:${url.port || '5432'}${decodeURIComponent(url.pathname)}`;
})();

async function caught(promise: Promise<unknown>): Promise<MigrateError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigrateError);
  return error as MigrateError;
}

function withPassword(url: string, password: string): string {
  const u = new URL(url);
  u.password = password;
  return u.toString();
}

describe('pg: read-only and connection failures', () => {
  let client: pg.Client;
  let openError: unknown;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect().catch((error: unknown) => {
      openError = error;
    });
  });
  // An unreachable server fails each test rather than leaving them skipped.
  beforeEach(() => {
    if (openError !== undefined) throw openError;
  });
  afterAll(async () => {
    if (openError === undefined) await client.end();
  });

  it('inspects read-only without creating anything', async () => {
    const table = uniqueTable();
    const sink = await openSink({ databaseUrl: TEST_DATABASE_URL, pgliteDir: '/nonexistent', readOnly: true });
    try {
      expect(sink.driver).toBe('pg');
      const info = await sink.schema.inspect({ table, dimensions: DIMS });
      expect(info).toMatchObject({ driver: 'pg', tableExists: false, willBeCreated: false, pgvectorInstalled: true });
      expect(info.location).toBe(TEST_DB_LOCATION);
      expect((await caught(sink.schema.ensureSchema({ table, dimensions: DIMS }))).code).toBe('E_USAGE');
      expect((await caught(sink.loads.replaceStore({ table, dimensions: DIMS }, { userId: 'u', collection: 'c' }, inBatches(makeRows('u', 'c', 1, DIMS), 1)))).code).toBe('E_USAGE');
    } finally {
      await sink.close();
    }
    const { rows } = await client.query('SELECT to_regclass($1) AS t', [`"${table}"`]);
    expect(rows[0].t).toBeNull();
  });

  it('searches read-only an existing table', async () => {
    const table = uniqueTable();
    const writer = await openSink({ databaseUrl: TEST_DATABASE_URL, pgliteDir: '/nonexistent' });
    try {
      await writer.schema.ensureSchema({ table, dimensions: DIMS });
      await writer.loads.replaceStore({ table, dimensions: DIMS }, { userId: 'u', collection: 'c' }, inBatches(makeRows('u', 'c', 3, DIMS), 2));
    } finally {
      await writer.close();
    }
    const reader = await openSink({ databaseUrl: TEST_DATABASE_URL, pgliteDir: '/nonexistent', readOnly: true });
    try {
      const hits = await reader.reads.search({ table, dimensions: DIMS }, { userId: 'u', embedding: new Float32Array([1, 0, 0, 0]), k: 5 });
      expect(hits).toHaveLength(3);
    } finally {
      await reader.close();
      await client.query(`DROP TABLE IF EXISTS "${table}"`);
    }
  });

  it('reports a wrong password as E_CONNECT without the password', async () => {
    const password = 'Wr0ng-pässw0rd!';
    const url = withPassword(TEST_DATABASE_URL, password);
    const error = await caught(openSink({ databaseUrl: url, pgliteDir: '/nonexistent' }));
    expect(error.code).toBe('E_CONNECT');
    expect(error.message).toContain(TEST_DB_LOCATION);
    for (const form of [password, encodeURIComponent(password), 'postgres:postgres']) expect(error.message).not.toContain(form);
    expect(JSON.stringify(error)).not.toContain(password);
  });

  it('reports an unreachable server as E_CONNECT with host and port but no password', async () => {
    const url = 'postgres://someone:t0p-s3cret@127.0.0.1:1/nowhere';
    const error = await caught(openSink({ databaseUrl: url, pgliteDir: '/nonexistent' }));
    expect(error.code).toBe('E_CONNECT');
    expect(error.message).toContain('127.0.0.1:1/nowhere');
    expect(error.message).not.toContain('t0p-s3cret');
  });

  it('reports a missing database as E_CONNECT without the password', async () => {
    const url = withPassword(TEST_DATABASE_URL.replace(/\/[^/]*$/, '/no_such_db_pgvm'), 'postgres');
    const error = await caught(openSink({ databaseUrl: url, pgliteDir: '/nonexistent' }));
    expect(error.code).toBe('E_CONNECT');
    expect(error.message).toContain('no_such_db_pgvm');
    expect(error.message).not.toMatch(/:postgres@/);
  });
});

describe('PGlite: data directory and read-only', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'pgvm-pglite-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('inspects read-only without creating the directory', async () => {
    const dir = path.join(root, 'absent', 'pglite');
    const sink = await openSink({ pgliteDir: dir, readOnly: true });
    try {
      expect(sink.driver).toBe('pglite');
      const info = await sink.schema.inspect({ table: 'vector_documents', dimensions: DIMS });
      expect(info).toMatchObject({ driver: 'pglite', willBeCreated: true, tableExists: false, tableDimensions: null, pgvectorInstalled: false });
      expect(info.pgvectorVersion).toMatch(/^0\.\d+/);
      expect(info.location).toBe(dir);
      expect((await caught(sink.schema.ensureSchema({ table: 'vector_documents', dimensions: DIMS }))).code).toBe('E_USAGE');
    } finally {
      await sink.close();
    }
    expect(existsSync(path.join(root, 'absent'))).toBe(false);
  });

  it('creates the directory when writing, then reads it back read-only', async () => {
    const dir = path.join(root, 'db');
    const target = { table: 'vector_documents', dimensions: DIMS };
    const writer = await openSink({ pgliteDir: dir });
    try {
      expect((await writer.schema.inspect(target)).willBeCreated).toBe(false);
      await writer.schema.ensureSchema(target);
      await writer.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches(makeRows('u', 'c', 5, DIMS), 2));
    } finally {
      await writer.close();
    }
    expect(existsSync(path.join(dir, 'PG_VERSION'))).toBe(true);

    const reader = await openSink({ pgliteDir: dir, readOnly: true });
    try {
      const info = await reader.schema.inspect(target);
      expect(info).toMatchObject({ willBeCreated: false, tableExists: true, tableDimensions: DIMS, pgvectorInstalled: true });
      expect(await reader.reads.search(target, { userId: 'u', embedding: new Float32Array([0, 1, 0, 0]), k: 2 })).toHaveLength(2);
      expect((await caught(reader.loads.replaceStore(target, { userId: 'u', collection: 'c' }, inBatches([], 1)))).code).toBe('E_USAGE');
    } finally {
      await reader.close();
    }

    // The data survived the read-only session unchanged.
    const again = await openSink({ pgliteDir: dir });
    try {
      expect(await again.reads.search(target, { userId: 'u', embedding: new Float32Array([0, 1, 0, 0]), k: 10 })).toHaveLength(5);
    } finally {
      await again.close();
    }
  });

  it('reports a database without pgvector as E_CONNECT', async () => {
    // A real PGlite started without the extension bundle: pgvector is neither installed nor available.
    const sink = pgliteSinkFrom(new PGlite(), { location: 'memory://no-vector' });
    try {
      const error = await caught(sink.schema.inspect({ table: 'vector_documents', dimensions: DIMS }));
      expect(error.code).toBe('E_CONNECT');
      expect(error.message).toContain('pgvector is not available on memory://no-vector');
      expect((await caught(sink.schema.ensureSchema({ table: 'vector_documents', dimensions: DIMS }))).code).toBe('E_CONNECT');
    } finally {
      await sink.close();
    }
  });

  it('reports a directory that is not a database as E_CONNECT', async () => {
    const file = path.join(root, 'a-file');
    await (await import('node:fs/promises')).writeFile(file, 'not a directory');
    const error = await caught(openSink({ pgliteDir: file }));
    expect(error.code).toBe('E_CONNECT');
    expect(error.message).toContain(file);
  });
});
