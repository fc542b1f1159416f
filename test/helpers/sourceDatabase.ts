/**
 * "A source in another database": a database of its own whose schema `kb` a login role may only
 * read (USAGE and SELECT, nothing else), as the table-source tests migrate from it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TEST_DATABASE_URL } from './cli.js';

export interface ReadOnlySource {
  /** A superuser connection to the source database (to write fixtures and read them back). */
  admin: pg.Client;
  /** The reader role's URL, with its password. */
  readerUrl: string;
  password: string;
  /** Closes `admin`, drops the database and the role. */
  drop(): Promise<void>;
}

async function onServer(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates `database` and `role`, runs `createTables` (schema kb is there), then grants the role SELECT on kb's tables. */
export async function createReadOnlySource(database: string, role: string, createTables: (admin: pg.Client) => Promise<void>): Promise<ReadOnlySource> {
  const password = `pw_${randomBytes(6).toString('hex')}`;
  await onServer(`CREATE DATABASE "${database}"`);
  await onServer(`CREATE ROLE "${role}" LOGIN PASSWORD '${password}'`);
  const adminUrl = new URL(TEST_DATABASE_URL);
  adminUrl.pathname = `/${database}`;
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query('CREATE SCHEMA kb');
  await createTables(admin);
  await admin.query(`GRANT USAGE ON SCHEMA kb TO "${role}"`);
  await admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA kb TO "${role}"`);
  const reader = new URL(TEST_DATABASE_URL);
  reader.username = role;
  reader.password = password;
  reader.pathname = `/${database}`;
  return {
    admin,
    readerUrl: reader.toString(),
    password,
    async drop() {
      await admin.end();
      await onServer(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await onServer(`DROP ROLE IF EXISTS "${role}"`);
    },
  };
}
