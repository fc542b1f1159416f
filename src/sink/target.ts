/** Targets validated once: the documents table and the tables that belong to it. */
import { ledgerOf, pcaModelsTable, previousTable, resolveTable, resolveVectorType, validateDimensions, type LedgerTables, type ResolvedTable } from './identifiers.js';
import type { TableRef, TargetSpec, VectorType } from './types.js';

/** A documents table with its PCA models table, previous-rows table and ledger. */
export interface TableTarget {
  table: ResolvedTable;
  /** The PCA models table of the documents table's schema. */
  models: ResolvedTable;
  /** `<table>_previous`: rows replaced by runs, kept for rollback. */
  previous: ResolvedTable;
  /** The run ledger of the documents table's schema. */
  ledger: LedgerTables;
}

/** A TargetSpec, validated once. */
export interface Target extends TableTarget {
  dimensions: number;
  vectorType: VectorType;
}

/** E_USAGE for a bad name, or one reserved for the models table or the ledger. */
export function checkTable(ref: TableRef | string): TableTarget {
  const table = resolveTable(typeof ref === 'string' ? ref : ref.table);
  return { table, models: pcaModelsTable(table), previous: previousTable(table), ledger: ledgerOf(table) };
}

export function checkTarget(target: TargetSpec): Target {
  validateDimensions(target.dimensions);
  return { ...checkTable(target), dimensions: target.dimensions, vectorType: resolveVectorType(target.vectorType) };
}
