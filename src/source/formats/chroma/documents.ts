import { describeCell, formatError, textCell, type Cell, type ChromaDb, type Row } from './sqlite.js';

/** One live record of a METADATA segment: its id, its text, and its metadata without chroma:* keys. */
export interface ChromaDocument {
  sourceId: string;
  text: string | null;
  metadata: Record<string, unknown>;
}

const DOCUMENT_KEY = 'chroma:document';

/**
 * The records of a METADATA segment (tables embeddings + embedding_metadata), in Chroma's
 * insertion order. A value is read from the first non-NULL typed column, as Chroma reads it back:
 * string_value, then bool_value (schemas that have it), int_value, float_value.
 */
export function readDocuments(db: ChromaDb, segmentId: string, hasArrays: boolean, label: string): { documents: ChromaDocument[]; warnings: string[] } {
  const warnings: string[] = [];
  const byRow = new Map<bigint, ChromaDocument>();
  const documents: ChromaDocument[] = [];
  for (const row of db.rows('embeddings', [segmentId])) {
    const doc: ChromaDocument = { sourceId: textCell(row, 'embedding_id', label), text: null, metadata: {} };
    byRow.set(rowId(row, label), doc);
    documents.push(doc);
  }
  for (const row of db.rows('embedding_metadata', [segmentId])) {
    const doc = byRow.get(rowId(row, label));
    if (doc === undefined) continue;
    const key = textCell(row, 'key', label);
    const value = scalarOf(row, key, doc.sourceId, label, warnings);
    if (key === DOCUMENT_KEY) {
      if (typeof value !== 'string') throw formatError(label, `record ${JSON.stringify(doc.sourceId)} has a chroma:document that is not text`);
      doc.text = value;
    } else if (!key.startsWith('chroma:')) {
      setOwn(doc.metadata, key, value);
    }
  }
  if (hasArrays) {
    for (const row of db.rows('embedding_metadata_array', [segmentId])) {
      const doc = byRow.get(rowId(row, label));
      if (doc === undefined) continue;
      const key = textCell(row, 'key', label);
      if (key.startsWith('chroma:')) continue;
      const existing = Object.hasOwn(doc.metadata, key) ? doc.metadata[key] : undefined;
      const list = Array.isArray(existing) ? (existing as unknown[]) : [];
      list.push(scalarOf(row, key, doc.sourceId, label, warnings));
      setOwn(doc.metadata, key, list);
    }
  }
  return { documents, warnings };
}

/** A key such as `__proto__` becomes an own property, as JSON.parse would make it, not the object's prototype. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function rowId(row: Row, label: string): bigint {
  const id = row.id;
  if (typeof id !== 'bigint') throw formatError(label, `has ${describeCell(id ?? null)} as an embeddings row id`);
  return id;
}

function scalarOf(row: Row, key: string, sourceId: string, label: string, warnings: string[]): unknown {
  const s = row.string_value;
  if (s !== null && s !== undefined) return s;
  const b = row.bool_value;
  if (b !== null && b !== undefined) return b !== 0n && b !== 0;
  const i = row.int_value;
  if (i !== null && i !== undefined) return intOf(i, key, sourceId, warnings);
  const f = row.float_value;
  if (f !== null && f !== undefined) {
    if (typeof f !== 'number' && typeof f !== 'bigint') throw formatError(label, `record ${JSON.stringify(sourceId)} has ${describeCell(f)} as the float value of ${JSON.stringify(key)}`);
    return Number(f);
  }
  return null;
}

function intOf(value: Cell, key: string, sourceId: string, warnings: string[]): unknown {
  if (typeof value === 'bigint') {
    if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
    // JSON numbers here become JavaScript doubles: keep every digit as text instead of rounding.
    warnings.push(`metadata ${JSON.stringify(key)} of record ${JSON.stringify(sourceId)} is the integer ${value}, beyond 2^53: kept as the string "${value}"`);
    return value.toString();
  }
  return value;
}
