/**
 * The SQL texts carried inside the compiled package, keyed by their path under sql/
 * ('queries/lock.sql'). This source holds none (sqlFiles.ts then reads sql/ from disk, as under
 * vitest): `npm run build` overwrites the compiled dist/sink/sqlBundle.js with every file of sql/
 * (scripts/embed-sql.mjs), so that a bundler moving the code away from sql/ still carries the SQL.
 * A static import, so that bundlers follow it.
 */
export const SQL_BUNDLE: ReadonlyMap<string, string> | null = null;
