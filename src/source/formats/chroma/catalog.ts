import { formatError, textCell, type ChromaDb, type Row } from './sqlite.js';

/**
 * The collections of a chroma.sqlite3 and, for each, its segments, its WAL topic and its distance
 * space, across the schema generations: 0.4 (collections.topic, no databases), 0.5/0.6
 * (database_id, config_json_str; topic dropped), 1.x (schema_str).
 */

const REQUIRED_TABLES = ['collections', 'segments', 'embeddings', 'embedding_metadata', 'embeddings_queue', 'max_seq_id'];

export interface ChromaCollection {
  id: string;
  name: string;
  /** collections.dimension: NULL until the first vector. */
  dimension: number | null;
  metadataSegment: string;
  vectorSegment: string | null;
  /** The embeddings_queue topic of this collection; null when the WAL holds none. */
  topic: string | null;
  space: string;
}

export interface Catalog {
  collections: ChromaCollection[];
  hasMetadataArrays: boolean;
}

export function readCatalog(db: ChromaDb, label: string): Catalog {
  const tables = new Set(db.rows('tables').map((r) => String(r.name)));
  const missing = REQUIRED_TABLES.filter((t) => !tables.has(t));
  if (missing.length > 0) throw formatError(label, `lacks the table${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: not a Chroma 0.4+ database (older Chroma used DuckDB/Parquet, which this tool does not read)`);
  const topics = db.rows('wal_topics').map((r) => String(r.topic));
  const collections: ChromaCollection[] = [];
  const names = new Set<string>();
  for (const row of db.rows('collections')) {
    const id = textCell(row, 'id', label);
    const name = textCell(row, 'name', label);
    if (names.has(name)) throw formatError(label, `has two collections named ${JSON.stringify(name)} (in different Chroma databases); this tool reads a store whose collection names are unique`);
    names.add(name);
    const segments = db.rows('segments', [id]);
    const metadata = segments.filter((s) => s.scope === 'METADATA');
    const vector = segments.filter((s) => s.scope === 'VECTOR');
    if (metadata.length !== 1 || vector.length > 1) {
      throw formatError(label, `collection ${JSON.stringify(name)} has ${metadata.length} METADATA and ${vector.length} VECTOR segments, not one of each`);
    }
    const [metadataSegment] = metadata;
    const [vectorSegment] = vector;
    if (vectorSegment !== undefined && !String(vectorSegment.type).startsWith('urn:chroma:segment/vector/hnsw-local')) {
      throw formatError(label, `collection ${JSON.stringify(name)} has a vector segment of type ${JSON.stringify(String(vectorSegment.type))}; only local HNSW segments are read`);
    }
    collections.push({
      id,
      name,
      dimension: dimensionOf(row, name, label),
      metadataSegment: textCell(metadataSegment as Row, 'id', label),
      vectorSegment: vectorSegment === undefined ? null : textCell(vectorSegment, 'id', label),
      topic: topicOf(row, id, topics, name, label),
      space: spaceOf(db, row, vectorSegment === undefined ? null : textCell(vectorSegment, 'id', label)),
    });
  }
  return { collections, hasMetadataArrays: tables.has('embedding_metadata_array') };
}

function dimensionOf(row: Row, name: string, label: string): number | null {
  const d = row.dimension;
  if (d === null || d === undefined) return null;
  if (typeof d !== 'bigint' || d <= 0n || d > 65_536n) throw formatError(label, `collection ${JSON.stringify(name)} has the dimension ${String(d)}`);
  return Number(d);
}

/** 0.4 stores the topic in collections.topic; later ones name it persistent://<tenant>/<db>/<collection id>. */
function topicOf(row: Row, id: string, topics: string[], name: string, label: string): string | null {
  if (typeof row.topic === 'string') return row.topic;
  const matching = topics.filter((t) => t.endsWith(`/${id}`));
  if (matching.length > 1) throw formatError(label, `collection ${JSON.stringify(name)} has WAL rows under ${matching.length} topics (${matching.join(', ')})`);
  return matching[0] ?? null;
}

/**
 * The HNSW space decides whether the index holds normalized vectors. Newest first: 1.x schema_str,
 * 0.5/0.6 config_json_str, then hnsw:space in the collection's or the segment's metadata; l2 by default.
 */
function spaceOf(db: ChromaDb, row: Row, vectorSegment: string | null): string {
  const fromJson = (text: unknown, path: string[]): string | null => {
    if (typeof text !== 'string') return null;
    try {
      let v: unknown = JSON.parse(text);
      for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
      return typeof v === 'string' ? v : null;
    } catch {
      return null;
    }
  };
  const fromMetadata = (rows: Row[]): string | null => {
    const r = rows.find((m) => m.key === 'hnsw:space');
    return r !== undefined && typeof r.str_value === 'string' ? r.str_value : null;
  };
  return (
    fromJson(row.schema_str, ['keys', '#embedding', 'float_list', 'vector_index', 'config', 'space']) ??
    fromJson(row.config_json_str, ['hnsw_configuration', 'space']) ??
    fromJson(row.config_json_str, ['hnsw', 'space']) ??
    fromMetadata(db.rows('collection_metadata', [String(row.id)])) ??
    (vectorSegment === null ? null : fromMetadata(db.rows('segment_metadata', [vectorSegment]))) ??
    'l2'
  );
}
