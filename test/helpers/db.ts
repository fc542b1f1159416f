/**
 * Real databases for the sink tests: the PostgreSQL server of TEST_DATABASE_URL (set up by
 * scripts/setup-postgres.sh) and PGlite in a temporary directory. Nothing is mocked; when the
 * server is unreachable the pg suites fail in their beforeAll instead of being skipped.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import pg from 'pg';
import { v5 as uuidv5 } from 'uuid';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { MigrateError } from '../../src/errors.js';
import { previousTable, resolveTable } from '../../src/sink/identifiers.js';
import { openSink } from '../../src/sink/index.js';
import { pgliteSinkFrom } from '../../src/sink/pgliteSink.js';
import type { DocumentRow, Sink } from '../../src/sink/types.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/pgvector_migrate_test';

export type DriverName = 'pg' | 'pglite';
export const DRIVERS: DriverName[] = ['pg', 'pglite'];

/** A sink plus a second way into the same database, to check what the sink did. */
export interface Harness {
  driver: DriverName;
  sink: Sink;
  /** Runs SQL outside the sink (a separate connection on pg; the same instance on PGlite). */
  query<R extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Drops tables created by tests (and schemas given as `schema.`). */
  dropTables(names: string[]): Promise<void>;
  /**
   * A read-only sink on the same database (pg: a read-only session of its own, closed with the
   * harness; PGlite: the same instance, refusing writes in the sink).
   */
  readOnlySink(): Promise<Sink>;
  close(): Promise<void>;
}

export async function openHarness(driver: DriverName): Promise<Harness> {
  return driver === 'pg' ? openPgHarness() : openPgliteHarness();
}

async function openPgHarness(): Promise<Harness> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  const sink = await openSink({ databaseUrl: TEST_DATABASE_URL, pgliteDir: '/nonexistent' });
  const query = async <R extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> => (await client.query<R>(sql, params)).rows;
  let readOnly: Sink | undefined;
  return {
    driver: 'pg',
    sink,
    query,
    dropTables: (names) => dropAll(query, names),
    async readOnlySink() {
      readOnly ??= await openSink({ databaseUrl: TEST_DATABASE_URL, pgliteDir: '/nonexistent', readOnly: true });
      return readOnly;
    },
    async close() {
      await readOnly?.close();
      await sink.close();
      await client.end();
    },
  };
}

async function openPgliteHarness(): Promise<Harness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgvm-sink-'));
  // One process cannot open a PGlite directory twice, so the harness shares the sink's instance.
  const db = new PGlite(path.join(dir, 'db'), { extensions: { vector } });
  await db.waitReady;
  const sink = pgliteSinkFrom(db, { location: dir });
  const query = async <R extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> => (await db.query<R>(sql, params)).rows;
  // Never closed on its own: closing it would close the shared instance.
  const readOnly = pgliteSinkFrom(db, { location: dir, readOnly: true });
  return {
    driver: 'pglite',
    sink,
    query,
    dropTables: (names) => dropAll(query, names),
    readOnlySink: () => Promise.resolve(readOnly),
    async close() {
      await sink.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function dropAll(query: Harness['query'], names: string[]): Promise<void> {
  for (const name of names) {
    // Test-made names only ([a-z0-9_.]), so interpolation is safe here. ensureSchema also made
    // the table's previous-rows table (the ledger of an unqualified table stays: it is shared).
    await query(`DROP TABLE IF EXISTS ${name.split('.').map((p) => `"${p}"`).join('.')}`);
    await query(`DROP TABLE IF EXISTS ${previousTable(resolveTable(name)).quoted}`);
    if (name.includes('.')) await query(`DROP SCHEMA IF EXISTS "${name.split('.')[0]}" CASCADE`);
  }
}

/**
 * Opens a harness for a `describe` block and drops what its tests `track` after each test. An
 * unreachable database fails every test (a failed beforeAll would only mark them skipped).
 */
export function useHarness(driver: DriverName): { readonly h: Harness; track(name: string): string } {
  let harness: Harness | undefined;
  let openError: unknown;
  let created: string[] = [];
  beforeAll(async () => {
    try {
      harness = await openHarness(driver);
    } catch (error) {
      openError = error;
    }
  });
  beforeEach(() => {
    if (openError !== undefined) throw openError;
  });
  afterEach(async () => {
    if (harness !== undefined) await harness.dropTables(created);
    created = [];
  });
  afterAll(async () => {
    await harness?.close();
  });
  return {
    get h(): Harness {
      if (harness === undefined) throw openError instanceof Error ? openError : new Error('the test database is not open');
      return harness;
    },
    track(name: string): string {
      created.push(name);
      return name;
    },
  };
}

/** Awaits a rejection with a MigrateError of `code` whose message contains every fragment. */
export async function expectMigrateError(promise: Promise<unknown>, code: string, ...fragments: string[]): Promise<MigrateError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected ${code}, but it resolved`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigrateError);
  const m = error as MigrateError;
  expect(m.code, m.message).toBe(code);
  for (const f of fragments) expect(m.message).toContain(f);
  return m;
}

/** A table name no other test (or concurrent run) uses. */
export function uniqueTable(prefix = 'sink_test'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

const NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

/** Deterministic pseudo-random vector, exactly representable in float32. */
export function vectorFor(seed: number, dims: number): Float32Array {
  const out = new Float32Array(dims);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < dims; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x / 0xffffffff - 0.5;
  }
  return out;
}

export function makeRow(userId: string, collection: string, index: number, dims: number, overrides: Partial<DocumentRow> = {}): DocumentRow {
  const text = overrides.text ?? `${userId}/${collection} entry ${index}`;
  return {
    id: uuidv5(`${userId}/${collection}/${index}`, NAMESPACE),
    userId,
    collection,
    text,
    embedding: vectorFor(index + 1000 * userId.length + collection.length, dims),
    metadataJson: JSON.stringify({ index, source: 'test' }),
    contentSha256: 'a'.repeat(64),
    embeddingModel: 'test-model',
    sourceIndex: index,
    ...overrides,
  };
}

/** `"schema"."table"` or `"table"` for test-made names ([a-z0-9_.] only). */
export function quoted(table: string): string {
  return table
    .split('.')
    .map((p) => `"${p}"`)
    .join('.');
}

export function makeRows(userId: string, collection: string, count: number, dims: number): DocumentRow[] {
  return Array.from({ length: count }, (_, i) => makeRow(userId, collection, i, dims));
}

/** The rows as an async iterable of batches of `size`. */
export async function* inBatches(rows: DocumentRow[], size: number): AsyncGenerator<DocumentRow[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

/** Rows per (user, collection) of a table. */
export async function countByStore(h: Harness, table: string): Promise<Record<string, number>> {
  const rows = await h.query<{ store: string; n: number | string }>(
    `SELECT user_id || '/' || collection_name AS store, count(*)::int AS n FROM ${table.split('.').map((p) => `"${p}"`).join('.')} GROUP BY 1 ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.store, Number(r.n)]));
}

/**
 * An independent float16 rounding, by arithmetic on doubles rather than on bit fields: scale the
 * value so that float16's spacing near it is 1, round half to even, scale back.
 */
export function referenceFloat16(x: number): number {
  const a = Math.abs(x);
  if (a === 0 || Number.isNaN(a) || !Number.isFinite(a)) return x;
  let exponent = Math.floor(Math.log2(a));
  if (2 ** exponent > a) exponent--;
  if (2 ** (exponent + 1) <= a) exponent++;
  // 10 fraction bits; below 2^-14 the spacing stays 2^-24 (subnormals).
  const spacing = 2 ** (Math.max(exponent, -14) - 10);
  const scaled = a / spacing; // exact: a power-of-two scaling of a float32
  const floor = Math.floor(scaled);
  const rest = scaled - floor;
  const units = rest > 0.5 ? floor + 1 : rest < 0.5 ? floor : floor % 2 === 0 ? floor : floor + 1;
  const magnitude = units * spacing;
  return Math.sign(x) * (magnitude > 65504 ? Number.POSITIVE_INFINITY : magnitude);
}
