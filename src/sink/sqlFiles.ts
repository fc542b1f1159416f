/**
 * Loads the SQL kept under the repository's top-level `sql/` folder and fills its placeholders.
 *
 * The path is resolved from this module's own URL: src/sink/ (vitest) and dist/sink/ (compiled)
 * are both two levels below the repository root, where `sql/` sits (and is shipped: see
 * package.json "files"). A build carries the same texts in SQL_BUNDLE (sqlBundle.ts), used
 * when present: a bundler that moves the compiled code leaves sql/ behind.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { MigrateError } from '../errors.js';
import type { SqlFragment } from './identifiers.js';
import { SQL_BUNDLE } from './sqlBundle.js';

const SQL_ROOT = new URL('../../sql/', import.meta.url);
const cache = new Map<string, string>();

/** The text of `sql/<relativePath>`, read once per process. */
export function loadSql(relativePath: string): string {
  let text = cache.get(relativePath) ?? SQL_BUNDLE?.get(relativePath);
  if (text === undefined) {
    try {
      text = readFileSync(new URL(relativePath, SQL_ROOT), 'utf8');
    } catch (error) {
      throw new MigrateError('E_INTERNAL', `SQL file sql/${relativePath} is missing from the installation`, { cause: error });
    }
    cache.set(relativePath, text);
  }
  return text;
}

/** Names of the `.sql` files directly in `sql/<directory>/`, sorted. */
export function listSqlFiles(directory: string): string[] {
  if (SQL_BUNDLE !== null) {
    const prefix = `${directory}/`;
    const names = [...SQL_BUNDLE.keys()].filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length));
    if (names.length === 0) throw new MigrateError('E_INTERNAL', `SQL directory sql/${directory} is missing from the installation`);
    return names.filter((name) => !name.includes('/') && name.endsWith('.sql')).sort();
  }
  try {
    return readdirSync(new URL(`${directory}/`, SQL_ROOT))
      .filter((name) => name.endsWith('.sql'))
      .sort();
  } catch (error) {
    throw new MigrateError('E_INTERNAL', `SQL directory sql/${directory} is missing from the installation`, { cause: error });
  }
}

const PLACEHOLDER = /\{\{([a-z_]+)\}\}/g;

/**
 * Replaces `{{name}}` with `values.name`. Only `SqlFragment`s (quoted identifiers, validated
 * integers) are accepted, and every placeholder must be filled: a typo fails loudly instead of
 * sending `{{tabel}}` to the server.
 */
export function renderSql(template: string, values: Readonly<Record<string, SqlFragment>>): string {
  return template.replace(PLACEHOLDER, (_match, key: string) => {
    const value = values[key];
    if (value === undefined) throw new MigrateError('E_INTERNAL', `SQL placeholder {{${key}}} has no value`);
    return value;
  });
}

/** loadSql + renderSql. */
export function sqlFile(relativePath: string, values: Readonly<Record<string, SqlFragment>> = {}): string {
  return renderSql(loadSql(relativePath), values);
}
