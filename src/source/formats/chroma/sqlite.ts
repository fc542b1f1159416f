import { readFile, stat } from 'node:fs/promises';
import initSqlJs, { type BindParams, type Database, type SqlValue } from 'sql.js';
import { MigrateError } from '../../../errors.js';
import { loadSql } from '../../../sink/sqlFiles.js';

/**
 * chroma.sqlite3 through sql.js (SQLite compiled to WASM: no native build, Node 20 has no
 * node:sqlite). sql.js opens a database from a buffer, so the file is read once with readFile and
 * never opened for writing: the source cannot be modified. The price is the whole file in memory
 * (twice, briefly: the buffer and sql.js's in-memory copy), hence the ceiling below.
 */

/** Default ceiling on chroma.sqlite3's size; above it the store is refused with E_FORMAT. */
/**
 * Measured (Node 20, one collection of 768-d WAL rows with ~500-character texts): a 220 MB file
 * (40,000 rows) peaks at 650 MB of RSS while inspected and read, a 507 MB one (92,000 rows) at
 * 1.34 GB. The ceiling keeps a run near that.
 */
export const DEFAULT_MAX_DATABASE_BYTES = 512 << 20;

/** A value as sql.js returns it with useBigInt: INTEGER columns come back as bigint. */
export type Cell = bigint | number | string | Uint8Array | null;
export type Row = Readonly<Record<string, Cell>>;

export interface ChromaDb {
  /** Runs `sql/chroma/<name>.sql` and returns every row as an object keyed by column name. */
  rows(name: string, params?: readonly (string | number)[]): Row[];
  close(): void;
}

type GetWithConfig = (params: BindParams | null, config: { useBigInt: boolean }) => Array<SqlValue | bigint>;

export function formatError(file: string, message: string): MigrateError {
  return new MigrateError('E_FORMAT', `${file}: ${message}`);
}

export async function openChromaDb(path: string, label: string, maxBytes: number): Promise<ChromaDb> {
  const size = (await stat(path)).size;
  if (size > maxBytes) {
    throw formatError(
      label,
      `is ${size} bytes, over the ${maxBytes}-byte ceiling of the SQLite reader (sql.js holds the whole file in memory); raise the ceiling if the machine has the memory`,
    );
  }
  const bytes = await readFile(path);
  if (bytes.length !== size) throw formatError(label, `changed size while it was being read (${size} then ${bytes.length} bytes)`);
  const SQL = await initSqlJs();
  let db: Database;
  try {
    db = new SQL.Database(bytes);
    // sql.js parses lazily: a file that is not a database fails on the first statement.
    db.exec('PRAGMA query_only = ON');
    db.exec('SELECT count(*) FROM sqlite_master');
  } catch (error) {
    throw formatError(label, `is not a readable SQLite database (${errorText(error)}); is the file complete?`);
  }
  return {
    rows(name, params = []) {
      try {
        const stmt = db.prepare(loadSql(`chroma/${name}.sql`));
        try {
          stmt.bind([...params]);
          const columns = stmt.getColumnNames();
          const out: Row[] = [];
          const get = stmt.get.bind(stmt) as unknown as GetWithConfig;
          while (stmt.step()) {
            const values = get(null, { useBigInt: true });
            const row: Record<string, Cell> = {};
            columns.forEach((column, i) => {
              row[column] = values[i] ?? null;
            });
            out.push(row);
          }
          return out;
        } finally {
          stmt.free();
        }
      } catch (error) {
        if (error instanceof MigrateError) throw error;
        throw formatError(label, `cannot be queried (${errorText(error)}): the file is corrupt or not of a Chroma schema this tool knows`);
      }
    },
    close() {
      db.close();
    },
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A seq_id: an 8-byte big-endian BLOB (schemas before metadb 5) or an INTEGER. */
export function seqIdOf(value: Cell, label: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (value instanceof Uint8Array && value.length === 8) {
    return new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0, false);
  }
  throw formatError(label, `holds a seq_id that is neither an integer nor an 8-byte big-endian blob (${describeCell(value)})`);
}

export function describeCell(value: Cell): string {
  if (value === null) return 'NULL';
  if (value instanceof Uint8Array) return `a ${value.length}-byte blob`;
  return `${typeof value === 'string' ? 'the text' : 'the number'} ${JSON.stringify(String(value)).slice(0, 60)}`;
}

export function textCell(row: Row, column: string, label: string): string {
  const value = row[column];
  if (typeof value !== 'string') throw formatError(label, `has ${describeCell(value ?? null)} in column ${column} where text belongs`);
  return value;
}
