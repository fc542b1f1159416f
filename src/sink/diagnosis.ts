/** `doctor`'s checks of a documents table (Reads.diagnose): one query per check. */
import { MigrateError } from '../errors.js';
import type { SqlRunner } from './driver.js';
import { normFunctionSql, type ResolvedTable } from './identifiers.js';
import type { TableShape } from './schema.js';
import { sqlFile } from './sqlFiles.js';
import type { ApplicationRows, TableDiagnosis } from './types.js';

/** Default of `normTolerance`: float32 rounding of a unit vector stays far below it; float16 (halfvec) too. */
const DEFAULT_NORM_TOLERANCE = 1e-3;
const DEFAULT_EXAMPLES = 5;
/** Examples are for a person to look up, not an export. */
const MAX_EXAMPLES = 1000;

export interface DiagnosisOptions {
  normTolerance?: number;
  examples?: number;
}

export function diagnosisOptions(opts: DiagnosisOptions): { tolerance: number; examples: number } {
  const tolerance = opts.normTolerance ?? DEFAULT_NORM_TOLERANCE;
  const examples = opts.examples ?? DEFAULT_EXAMPLES;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    throw new MigrateError('E_USAGE', `the norm tolerance must be a finite number >= 0, not ${String(tolerance)}`);
  }
  if (typeof examples !== 'number' || !Number.isInteger(examples) || examples < 0 || examples > MAX_EXAMPLES) {
    throw new MigrateError('E_USAGE', `the number of examples must be an integer from 0 to ${MAX_EXAMPLES}, not ${String(examples)}`);
  }
  return { tolerance, examples };
}

interface ExamplesRow extends Record<string, unknown> {
  rows: number;
  examples: string[];
}

interface DuplicatesRow extends Record<string, unknown> {
  groups: number;
  rows: number;
  /** json_agg: parsed by both drivers. */
  examples: { userId: string; contentSha256: string; rows: number }[];
}

function counted(row: ExamplesRow | undefined): { rows: number; examples: string[] } {
  return { rows: Number(row?.rows ?? 0), examples: [...(row?.examples ?? [])] };
}

export async function readApplicationRows(db: SqlRunner, table: ResolvedTable): Promise<ApplicationRows[]> {
  const { rows } = await db.query<{ user_id: string; collection_name: string; rows: number }>(sqlFile('queries/application_rows.sql', { table: table.quoted }));
  return rows.map((r) => ({ userId: r.user_id, collection: r.collection_name, rows: Number(r.rows) }));
}

/** The checks of a table known to exist and to be a documents table (`shape`). */
export async function diagnoseTable(db: SqlRunner, table: ResolvedTable, shape: TableShape, tolerance: number, examples: number): Promise<TableDiagnosis> {
  const values = { table: table.quoted, norm: normFunctionSql(shape.vectorType ?? 'vector') };
  // Separate statements, not one snapshot: under concurrent loads the figures may disagree
  // slightly with each other; doctor is meant for a table at rest.
  let fingerprints: TableDiagnosis['fingerprints'];
  if (shape.hasFingerprintColumn) {
    const { rows } = await db.query<{ fingerprint: string | null; rows: number }>(sqlFile('queries/diagnose_fingerprints.sql', values));
    fingerprints = rows.map((r) => ({ fingerprint: r.fingerprint, rows: Number(r.rows) }));
  } else {
    // A table from before fingerprints (not yet through ensureSchema): all of its rows have none.
    const { rows } = await db.query<{ rows: number }>(sqlFile('queries/diagnose_rows.sql', values));
    const n = Number(rows[0]?.rows ?? 0);
    fingerprints = n === 0 ? [] : [{ fingerprint: null, rows: n }];
  }
  const zero = await db.query<ExamplesRow>(sqlFile('queries/diagnose_zero_vectors.sql', values), [examples]);
  const off = await db.query<ExamplesRow>(sqlFile('queries/diagnose_non_normalized.sql', values), [tolerance, examples]);
  const dup = await db.query<DuplicatesRow>(sqlFile('queries/diagnose_duplicate_texts.sql', values), [examples]);
  const empty = await db.query<ExamplesRow>(sqlFile('queries/diagnose_missing_text.sql', values), [examples]);
  const duplicates = dup.rows[0];
  const applicationRows = (await readApplicationRows(db, table)).reduce((sum, s) => sum + s.rows, 0);
  return {
    table: table.display,
    rows: fingerprints.reduce((sum, f) => sum + f.rows, 0) + applicationRows,
    fingerprints,
    zeroVectors: counted(zero.rows[0]),
    nonNormalized: { ...counted(off.rows[0]), tolerance },
    duplicateTexts: {
      groups: Number(duplicates?.groups ?? 0),
      rows: Number(duplicates?.rows ?? 0),
      examples: (duplicates?.examples ?? []).map((e) => ({ userId: e.userId, contentSha256: e.contentSha256, rows: Number(e.rows) })),
    },
    missingText: counted(empty.rows[0]),
    applicationRows,
  };
}
