/**
 * The documents row's one definition (src/sink/columns.ts): what derives from it (COPY order,
 * required-column checks, the SQL files' column lists), that the CREATE TABLE migrations
 * (sql/schema/) make exactly the tables it describes, on pg and PGlite, plain and partitioned,
 * and that no query writes the row's column list out again.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  COLUMN_SQL,
  columnSql,
  COPY_COLUMNS,
  DOCUMENT_COLUMNS,
  FINGERPRINT_COLUMN,
  formatType,
  PCA_MODEL_COLUMN,
  PREVIOUS_OWN_COLUMNS,
  PREVIOUS_REQUIRED_COLUMNS,
  REQUIRED_COLUMNS,
  type DocumentColumn,
} from '../src/sink/columns.js';
import { partitionTable, previousTable, quoteIdent, resolveTable } from '../src/sink/identifiers.js';
import { assertPreviousCompatible, type TableShape } from '../src/sink/schema.js';
import { loadSql, renderSql } from '../src/sink/sqlFiles.js';
import type { VectorType } from '../src/sink/types.js';
import { DRIVERS, uniqueTable, useHarness } from './helpers/db.js';

const NAMES = DOCUMENT_COLUMNS.map((c) => c.name);

describe('column definition', () => {
  it('derives the COPY order, the required columns and those ensureSchema adds', () => {
    // COPY skips only the columns the table's defaults fill, in the definition's order.
    expect(COPY_COLUMNS).toEqual(NAMES.filter((n) => n !== 'created_at' && n !== 'updated_at'));
    expect(REQUIRED_COLUMNS).toEqual(NAMES.filter((n) => n !== PCA_MODEL_COLUMN && n !== FINGERPRINT_COLUMN));
    expect([PCA_MODEL_COLUMN, FINGERPRINT_COLUMN]).toEqual(['pca_model_id', 'embedding_fingerprint']);
    // _previous was created with pca_model_id (005) but gets embedding_fingerprint from 007.
    expect(PREVIOUS_REQUIRED_COLUMNS).toEqual([...NAMES.filter((n) => n !== FINGERPRINT_COLUMN), 'replaced_by_run', 'replaced_at']);
  });

  it('renders the column lists the queries take', () => {
    expect(COLUMN_SQL.copy_columns).toBe(COPY_COLUMNS.map((n) => `"${n}"`).join(', '));
    expect(COLUMN_SQL.row_columns).toBe(NAMES.map((n) => `"${n}"`).join(', '));
    // A re-embed takes the embedding's columns from staging, every other one from the documents row.
    expect(COLUMN_SQL.reembed_select).toBe(
      'm."id", m."user_id", m."collection_name", m."text", st."embedding", m."metadata", m."created_at", m."updated_at", m."content_sha256", st."embedding_model", m."source_index", st."pca_model_id", st."embedding_fingerprint"',
    );
    const synced = ['user_id', 'collection_name', 'metadata', 'created_at', 'updated_at', 'content_sha256', 'source_index'];
    expect(COLUMN_SQL.sync_set).toBe(synced.map((n) => `"${n}" = m."${n}"`).join(', '));
    expect(COLUMN_SQL.sync_side).toBe(synced.map((n) => `s."${n}"`).join(', '));
    expect(COLUMN_SQL.sync_main).toBe(synced.map((n) => `m."${n}"`).join(', '));
  });

  it('carries a new column into every list from one entry', () => {
    const added: DocumentColumn = { name: 'language', type: 'text', notNull: false, copy: true, required: false, previous: 'added', embedded: false };
    const sql = columnSql([...DOCUMENT_COLUMNS, added]);
    expect(sql.copy_columns).toMatch(/"embedding_fingerprint", "language"$/);
    expect(sql.row_columns).toMatch(/"embedding_fingerprint", "language"$/);
    expect(sql.reembed_select).toMatch(/st\."embedding_fingerprint", m\."language"$/);
    expect(sql.sync_set).toMatch(/"source_index" = m\."source_index", "language" = m\."language"$/);
    // Not written by COPY: out of the COPY list, still in the copied row.
    const defaulted = columnSql([...DOCUMENT_COLUMNS, { ...added, copy: false }]);
    expect(defaulted.copy_columns).toBe(COLUMN_SQL.copy_columns);
    expect(defaulted.row_columns).toMatch(/"language"$/);
    // Column names still go through the identifier check.
    expect(() => columnSql([{ ...added, name: 'Lang; DROP' }])).toThrowError(expect.objectContaining({ code: 'E_USAGE' }) as Error);
  });

  it('fills the queries: COPY, staging, _previous and re-embed lists, nothing left over', () => {
    const values = { ...COLUMN_SQL, table: quoteIdent('docs'), staging: quoteIdent('stage'), previous: quoteIdent('docs_previous'), side: quoteIdent('docs_side') };
    const render = (file: string): string => renderSql(loadSql(`queries/${file}`), values);
    for (const file of ['copy_staging_blob.sql', 'copy_staging_stdin.sql', 'insert_staged.sql', 'previous_save.sql', 'rollback_restore.sql', 'reembed_insert_staged.sql', 'reembed_sync.sql']) {
      expect(render(file), file).not.toContain('{{');
    }
    expect(render('copy_staging_stdin.sql')).toContain(`COPY "stage" (${COLUMN_SQL.copy_columns})\nFROM STDIN`);
    expect(render('insert_staged.sql')).toContain(`INSERT INTO "docs" (${COLUMN_SQL.copy_columns})\nSELECT ${COLUMN_SQL.copy_columns}\nFROM "stage"`);
    expect(render('previous_save.sql')).toContain(`INSERT INTO "docs_previous" (${COLUMN_SQL.row_columns}, replaced_by_run)`);
    expect(render('rollback_restore.sql')).toContain(`INSERT INTO "docs" (${COLUMN_SQL.row_columns})\nSELECT ${COLUMN_SQL.row_columns}\nFROM "docs_previous"`);
  });

  it('is the only place the row is listed: no query or source spells out the column list', () => {
    // Six or more of the row's names in a row, separated by commas (aliases, quotes and `= m.x` allowed).
    const name = `(?:[a-z]{1,2}\\.)?"?(?:${[...NAMES].sort((a, b) => b.length - a.length).join('|')})"?`;
    const item = `${name}(?:\\s*=\\s*${name})?`;
    const list = new RegExp(`\\b${item}(?:\\s*,\\s*${item}){5,}`, 'g');
    const root = new URL('../', import.meta.url);
    const files = [
      ...readdirSync(new URL('sql/queries/', root)).map((f) => `sql/queries/${f}`),
      ...readdirSync(new URL('src/', root), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => `src/${f}`),
    ];
    const found = files.flatMap((file) => {
      // Comments may name columns; code may not list them.
      const code = readFileSync(new URL(file, root), 'utf8').split('\n').filter((line) => !/^\s*(--|\*|\/\/|\/\*\*)/.test(line)).join('\n');
      return [...code.matchAll(list)].map((m) => `${file}: ${m[0]}`);
    });
    // columns.ts lists the names one entry per line, which this pattern does not match.
    expect(found).toEqual([]);
    expect(files.length).toBeGreaterThan(100);
  });

  it('requires of an existing _previous what the definition says it carries', () => {
    const table = resolveTable('docs');
    const shape = (columns: readonly string[]): TableShape => ({ exists: true, dimensions: 4, vectorType: 'vector', embeddingType: 'vector(4)', missingColumns: [], hasPcaModelColumn: true, hasFingerprintColumn: columns.includes(FINGERPRINT_COLUMN), columns, provenanceNotNull: false });
    expect(() => assertPreviousCompatible(shape(PREVIOUS_REQUIRED_COLUMNS), table, 4, 'vector')).not.toThrow();
    expect(() => assertPreviousCompatible(shape(PREVIOUS_REQUIRED_COLUMNS.filter((c) => c !== 'replaced_at')), table, 4, 'vector')).toThrowError(
      expect.objectContaining({ code: 'E_SCHEMA', message: expect.stringContaining('lacks replaced_at') as string }) as Error,
    );
    expect(() => assertPreviousCompatible(shape(PREVIOUS_REQUIRED_COLUMNS.filter((c) => c !== PCA_MODEL_COLUMN)), table, 4, 'vector')).toThrowError(/lacks pca_model_id/);
  });
});

interface CatalogColumn extends Record<string, unknown> {
  name: string;
  type: string;
  not_null: boolean;
}

describe.each(DRIVERS)('tables the schema migrations create (%s)', (driver) => {
  const harness = useHarness(driver);

  async function columnsOf(regclass: string): Promise<CatalogColumn[]> {
    return harness.h.query<CatalogColumn>(
      `SELECT attname::text AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS not_null
         FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
      [regclass],
    );
  }

  const expected = (columns: readonly Pick<DocumentColumn, 'name' | 'type' | 'notNull'>[], embeddingType: string): CatalogColumn[] =>
    columns.map((c) => ({ name: c.name, type: formatType(c, embeddingType), not_null: c.notNull }));

  it.each<[string, VectorType, number, number | undefined]>([
    ['plain vector', 'vector', 8, undefined],
    ['partitioned halfvec', 'halfvec', 6, 2],
  ])('%s: exactly the defined columns, types and NOT NULL, on the table and on _previous', async (_label, vectorType, dimensions, partitions) => {
    const table = harness.track(uniqueTable('sink_cols'));
    await harness.h.sink.schema.ensureSchema({ table, dimensions, vectorType, ...(partitions === undefined ? {} : { partitions }) });
    const embeddingType = `${vectorType}(${dimensions})`;
    // The documents table: in the definition's order (001, then 004 and 006 append theirs).
    expect(await columnsOf(`"${table}"`)).toEqual(expected(DOCUMENT_COLUMNS, embeddingType));
    // _previous: the same columns, nullable where the documents table is, plus its own; 007
    // appends embedding_fingerprint after them, hence compared by name.
    const previous = await columnsOf(previousTable(resolveTable(table)).quoted);
    const byName = (columns: CatalogColumn[]) => [...columns].sort((a, b) => a.name.localeCompare(b.name));
    expect(byName(previous)).toEqual(byName([...expected(DOCUMENT_COLUMNS, embeddingType), ...expected(PREVIOUS_OWN_COLUMNS, embeddingType)]));
    if (partitions !== undefined) expect(await columnsOf(partitionTable(resolveTable(table), 1).table.quoted)).toEqual(expected(DOCUMENT_COLUMNS, embeddingType));
  });
});
