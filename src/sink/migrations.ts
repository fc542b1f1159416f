/**
 * Numbered migrations for the objects a whole schema shares (the run ledger), graphile-worker
 * style: `sql/migrations/NNN_name.sql`, applied in order, each once, recorded in a version table
 * (`pgvector_migrate_migrations`), all inside the caller's transaction and under an advisory lock,
 * so concurrent callers serialize and a failure leaves no migration half applied. Each file is
 * idempotent anyway (IF NOT EXISTS), so a version table lost by hand does no harm.
 *
 * Per-table objects (the documents table, its indexes, `<table>_previous`) are not migrations:
 * schema.ts derives their DDL from what the catalog shows, as before.
 */
import { MigrateError } from '../errors.js';
import type { DriverTransaction, SqlRunner } from './driver.js';
import type { LedgerTables } from './identifiers.js';
import { relationExists } from './schema.js';
import { listSqlFiles, sqlFile } from './sqlFiles.js';

export interface Migration {
  version: number;
  /** The file name without number and extension, e.g. `ledger`. */
  name: string;
  /** Path under sql/, e.g. `migrations/001_ledger.sql`. */
  file: string;
}

const FILE_NAME = /^(\d{3})_([a-z0-9_]+)\.sql$/;

let cached: Migration[] | undefined;

/**
 * The migrations shipped with this version, in order. E_INTERNAL for a misnamed file, a duplicate
 * or a gap in the numbering: versions are recorded forever, so they must be 1, 2, 3, …
 */
export function listMigrations(): Migration[] {
  if (cached !== undefined) return cached;
  const migrations = listSqlFiles('migrations').map((file) => {
    const match = FILE_NAME.exec(file);
    if (match === null) throw new MigrateError('E_INTERNAL', `sql/migrations/${file} is not named NNN_name.sql`);
    return { version: Number(match[1]), name: match[2] as string, file: `migrations/${file}` };
  });
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new MigrateError('E_INTERNAL', `sql/migrations: expected migration ${i + 1}, found ${m.file} (numbers must run 1, 2, 3, … without gaps)`);
  });
  cached = migrations;
  return migrations;
}

/** The advisory-lock key serializing the migrations of one schema. */
export function migrationsLockKey(ledger: LedgerTables): string {
  return `pgvector-migrate migrations ${ledger.migrations.regclassText}`;
}

/**
 * Applies the migrations the schema of `ledger` lacks, inside `tx`, and returns their versions.
 * Takes the schema's migration lock first: a second caller waits, then finds them applied.
 * E_SCHEMA when the database recorded a migration under another name (another tool's version
 * table, or files renumbered): running on could apply the wrong DDL.
 */
export async function applyMigrations(tx: DriverTransaction, ledger: LedgerTables): Promise<number[]> {
  const migrations = listMigrations();
  await tx.query(sqlFile('queries/lock.sql'), [migrationsLockKey(ledger)]);
  if (!(await relationExists(tx, ledger.migrations))) await tx.exec(sqlFile('queries/migrations_table.sql', ledger.sql));
  const { rows } = await tx.query<{ version: number; name: string }>(sqlFile('queries/migrations_applied.sql', ledger.sql));
  const applied = new Map(rows.map((r) => [Number(r.version), r.name]));
  const ran: number[] = [];
  for (const m of migrations) {
    const recorded = applied.get(m.version);
    if (recorded !== undefined) {
      if (recorded !== m.name) {
        throw new MigrateError(
          'E_SCHEMA',
          `${ledger.migrations.display} records migration ${m.version} as ${JSON.stringify(recorded)}, but this version of pgvector-migrate calls it ${JSON.stringify(m.name)}; is the table another tool's?`,
        );
      }
      continue;
    }
    await tx.exec(sqlFile(m.file, ledger.sql));
    await tx.query(sqlFile('queries/migrations_record.sql', ledger.sql), [m.version, m.name]);
    ran.push(m.version);
  }
  return ran;
}

/** The highest migration applied to the schema of `ledger`; null when none (no version table). Reads only. */
export async function ledgerVersion(db: SqlRunner, ledger: LedgerTables): Promise<number | null> {
  if (!(await relationExists(db, ledger.migrations))) return null;
  const { rows } = await db.query<{ version: number | null }>(sqlFile('queries/ledger_version.sql', ledger.sql));
  const version = rows[0]?.version;
  return version === null || version === undefined ? null : Number(version);
}

/** True when every migration of this version has been applied (the ledger can be written). */
export async function ledgerReady(db: SqlRunner, ledger: LedgerTables): Promise<boolean> {
  const version = await ledgerVersion(db, ledger);
  return version !== null && version >= listMigrations().length;
}
