/**
 * Nodes and indexes as LlamaIndex persisted them, reduced to what a record needs. The shapes:
 *   Python >= 0.7 docstore.json: `docstore/data` -> id -> {__type__, __data__: {id_, text, metadata}}
 *   Python 0.6:                  same, with {doc_id, text, extra_info (object or null), node_info}
 *   TS doc_store.json:           `__data__` is a JSON string of {id_, text, metadata, type, ...}
 *   Python index_store.json:     `index_store/data` -> id -> {__type__, __data__: {nodes_dict, ...}}
 *                                (__data__ a JSON string from 0.7, an object in 0.6)
 *   TS index_store.json:         `docstore/data` -> id -> {indexId, type, nodesDict: id -> node}
 */
import { MigrateError } from '../../errors.js';
import { setJsonKey } from '../jsonKey.js';
import { isJsonObject, parseJsonText } from './jsonFile.js';
import type { LlamaIndexFlavor } from './llamaIndexLayout.js';

export interface StoredNode {
  text: string;
  metadata: Record<string, unknown>;
}

export interface StoredIndex {
  id: string;
  type: string;
  /** nodes_dict: node id -> node id (FAISS: position -> node id). TS: node id -> node id. */
  nodes: Map<string, string>;
  /** Entries of a KG index's embeddings_dict (triplet embeddings, not documents). */
  otherEmbeddings: number;
}

/** Index types whose nodes_dict lists the nodes of a vector store. */
export const VECTOR_INDEX_TYPES = new Set(['vector_store', 'simple_dict']);

function unwrap(value: unknown, label: string, what: string): Record<string, unknown> {
  const data = typeof value === 'string' ? parseJsonText(value, `${label}: ${what}`) : value;
  if (!isJsonObject(data)) throw new MigrateError('E_FORMAT', `${label}: ${what} is not a JSON object`);
  return data;
}

function section(top: unknown, key: string, label: string): Record<string, unknown> {
  if (!isJsonObject(top)) throw new MigrateError('E_FORMAT', `${label}: the top level is not a JSON object`);
  const value = top[key];
  if (value === undefined) throw new MigrateError('E_FORMAT', `${label} has no "${key}": not a LlamaIndex store of a known version`);
  if (!isJsonObject(value)) throw new MigrateError('E_FORMAT', `${label}: "${key}" is not a JSON object`);
  return value;
}

function nodeText(data: Record<string, unknown>, label: string, id: string): string {
  if (typeof data.text === 'string') return data.text;
  // llama-index 0.12 nodes keep their text in a MediaResource.
  const resource = data.text_resource;
  if (isJsonObject(resource) && typeof resource.text === 'string') return resource.text;
  throw new MigrateError('E_FORMAT', `${label}: node ${JSON.stringify(id)} has no text (neither "text" nor "text_resource.text" is a string)`);
}

function nodeMetadata(data: Record<string, unknown>, label: string, id: string): Record<string, unknown> {
  const value = Object.hasOwn(data, 'metadata') ? data.metadata : data.extra_info; // extra_info: 0.6
  if (value === undefined || value === null) return {};
  if (!isJsonObject(value)) throw new MigrateError('E_FORMAT', `${label}: the metadata of node ${JSON.stringify(id)} is not a JSON object`);
  return value;
}

/**
 * docstore.json / doc_store.json: node id (the docstore key) -> the node's fields. Text and
 * metadata are checked only for nodes that become records: a docstore also holds source
 * documents and index nodes, which no vector store points at.
 */
export function parseDocstore(top: unknown, label: string): Map<string, Record<string, unknown>> {
  const nodes = new Map<string, Record<string, unknown>>();
  for (const [id, entry] of Object.entries(section(top, 'docstore/data', label))) {
    if (!isJsonObject(entry)) throw new MigrateError('E_FORMAT', `${label}: entry ${JSON.stringify(id)} is not a JSON object`);
    nodes.set(id, unwrap(entry.__data__, label, `the __data__ of entry ${JSON.stringify(id)}`));
  }
  return nodes;
}

export function storedNode(data: Record<string, unknown>, label: string, id: string): StoredNode {
  return { text: nodeText(data, label, id), metadata: nodeMetadata(data, label, id) };
}

function stringMap(value: unknown, label: string, what: string, flavor: LlamaIndexFlavor): Map<string, string> {
  if (value === undefined || value === null) return new Map();
  if (!isJsonObject(value)) throw new MigrateError('E_FORMAT', `${label}: ${what} is not a JSON object`);
  const out = new Map<string, string>();
  for (const [key, target] of Object.entries(value)) {
    // TS keeps whole nodes in nodesDict; the key is the node id.
    if (flavor === 'ts') out.set(key, key);
    else if (typeof target === 'string') out.set(key, target);
    else throw new MigrateError('E_FORMAT', `${label}: ${what} maps ${JSON.stringify(key)} to a non-string`);
  }
  return out;
}

export function parseIndexStore(top: unknown, label: string, flavor: LlamaIndexFlavor): StoredIndex[] {
  const indexes: StoredIndex[] = [];
  const data = section(top, flavor === 'ts' ? 'docstore/data' : 'index_store/data', label);
  for (const [id, entry] of Object.entries(data)) {
    if (!isJsonObject(entry)) throw new MigrateError('E_FORMAT', `${label}: index ${JSON.stringify(id)} is not a JSON object`);
    if (flavor === 'ts') {
      indexes.push({ id, type: String(entry.type), nodes: stringMap(entry.nodesDict, label, `nodesDict of index ${JSON.stringify(id)}`, flavor), otherEmbeddings: 0 });
      continue;
    }
    const struct = unwrap(entry.__data__, label, `the __data__ of index ${JSON.stringify(id)}`);
    const embeddings = struct.embeddings_dict;
    indexes.push({
      id,
      type: String(entry.__type__),
      nodes: stringMap(struct.nodes_dict, label, `nodes_dict of index ${JSON.stringify(id)}`, flavor),
      otherEmbeddings: isJsonObject(embeddings) ? Object.keys(embeddings).length : 0,
    });
  }
  return indexes;
}

/** Entity ids of a property graph (SimplePropertyGraphStore: `{nodes: {id: ...}, relations, triplets}`). */
export function parsePropertyGraphNodes(top: unknown, label: string): Set<string> {
  if (!isJsonObject(top)) throw new MigrateError('E_FORMAT', `${label}: the top level is not a JSON object`);
  const nodes = top.nodes;
  if (nodes === undefined || nodes === null) return new Set();
  if (!isJsonObject(nodes)) throw new MigrateError('E_FORMAT', `${label}: "nodes" is not a JSON object`);
  return new Set(Object.keys(nodes));
}

/** Subjects of a KG index's graph_store.json (`{graph_dict: {subject: [[relation, object], ...]}}`). */
export function countGraphSubjects(top: unknown, label: string): number {
  if (!isJsonObject(top)) throw new MigrateError('E_FORMAT', `${label}: the top level is not a JSON object`);
  const dict = top.graph_dict;
  return isJsonObject(dict) ? Object.keys(dict).length : 0;
}

/**
 * Plain metadata: the vector store's metadata_dict entry, overridden by the node's own keys, and
 * `ref_doc_id` from text_id_to_ref_doc_id (0.6: text_id_to_doc_id; TS: textIdToRefDocId) when
 * neither has it, so records of every version name their source document.
 */
export function mergeMetadata(fromVectorStore: Record<string, unknown> | undefined, fromNode: Record<string, unknown>, refDocId?: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (fromVectorStore !== undefined) for (const [k, v] of Object.entries(fromVectorStore)) setJsonKey(out, k, v);
  for (const [k, v] of Object.entries(fromNode)) setJsonKey(out, k, v);
  if (typeof refDocId === 'string' && !Object.hasOwn(out, 'ref_doc_id')) out.ref_doc_id = refDocId;
  return out;
}

/** Deeper than this, JSON.stringify (and so jsonb loading) overflows the stack; Python's json refuses it too. */
const MAX_NESTING = 1000;

export function checkNesting(value: unknown, label: string, id: string): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth > MAX_NESTING) throw new MigrateError('E_FORMAT', `${label}: the metadata of node ${JSON.stringify(id)} nests more than ${MAX_NESTING} levels deep`);
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
}
