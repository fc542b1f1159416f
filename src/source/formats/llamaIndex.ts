/**
 * LlamaIndex persist directories, Python (`llama-index` 0.6 to 0.12) and TS (`llamaindex` npm).
 * A record is a node the vector store holds an embedding for: its id and vector from the vector
 * store, its text and metadata from the docstore (plus the vector store's metadata_dict, which
 * repeats the node's metadata with `_node_type`, `doc_id`, `ref_doc_id`, ...; the node's own
 * keys win). Source documents (TS `DOCUMENT` entries, Python ref docs) hold no embedding and are
 * not records. Each vector-store namespace (`default`, `image`, ...) is one collection, its
 * records in the order of the file's embedding_dict (FAISS: position order).
 *
 * Refused (E_FORMAT): an embedding whose node the docstore lacks (unless it is a property-graph
 * entity, skipped with a warning), a node a vector index lists without an embedding, duplicate
 * ids, FAISS indexes other than flat ones. E_VECTOR: vectors ragged, empty or non-finite.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { MigrateError, toMigrateError } from '../../errors.js';
import { isJsonObject, readBoundedJson } from './jsonFile.js';
import { readJsonSections, type SectionPlan } from './jsonSections.js';
import { readFaissFlatIndex, type FaissFlatIndex } from './faissIndex.js';
import { detectLlamaIndexLayout, looksLikeLlamaIndex, storeFile, type LlamaIndexLayout, type LlamaIndexNamespace } from './llamaIndexLayout.js';
import {
  VECTOR_INDEX_TYPES,
  checkNesting,
  countGraphSubjects,
  mergeMetadata,
  parseDocstore,
  parseIndexStore,
  parsePropertyGraphNodes,
  storedNode,
  type StoredIndex,
} from './llamaIndexNodes.js';
import type { FormatCollection, FormatInspection, FormatReader, FormatRecord } from './types.js';

const VECTOR_KEYS = {
  python: { embeddings: 'embedding_dict', metadata: 'metadata_dict', refDocs: ['text_id_to_ref_doc_id', 'text_id_to_doc_id'] },
  ts: { embeddings: 'embeddingDict', metadata: 'metadataDict', refDocs: ['textIdToRefDocId'] },
} as const;

interface OpenedStore {
  dir: string;
  layout: LlamaIndexLayout;
  docstore: Map<string, Record<string, unknown>>;
  indexes: StoredIndex[];
  /** Property-graph entity ids: their embeddings in a vector store are skipped, not refused. */
  entities: Set<string>;
  entitySource: string | null;
  warnings: string[];
}

function label(dir: string, file: string): string {
  return path.join(dir, file);
}

async function openStore(dir: string): Promise<OpenedStore> {
  const layout = await detectLlamaIndexLayout(dir);
  const warnings: string[] = [];
  const docstore = parseDocstore(await readBoundedJson(await storeFile(dir, layout.docstore), label(dir, layout.docstore)), label(dir, layout.docstore));
  let indexes: StoredIndex[] = [];
  if (layout.indexStore !== null) {
    const where = label(dir, layout.indexStore);
    indexes = parseIndexStore(await readBoundedJson(await storeFile(dir, layout.indexStore), where), where, layout.flavor);
    const triplets = indexes.reduce((n, i) => n + i.otherEmbeddings, 0);
    if (triplets > 0) warnings.push(`${layout.indexStore} holds ${triplets} knowledge-graph embeddings (embeddings_dict): not documents, not migrated`);
  }
  if (layout.graphStore !== null) {
    const where = label(dir, layout.graphStore);
    const subjects = countGraphSubjects(await readBoundedJson(await storeFile(dir, layout.graphStore), where), where);
    if (subjects > 0) warnings.push(`${layout.graphStore} holds a knowledge graph of ${subjects} subjects: its triplets are not documents, not migrated`);
  }
  const entities = new Set<string>();
  for (const file of layout.propertyGraphStores) {
    const where = label(dir, file);
    const ids = parsePropertyGraphNodes(await readBoundedJson(await storeFile(dir, file), where), where);
    for (const id of ids) entities.add(id);
    warnings.push(`${file} holds a property graph of ${ids.size} nodes: not documents, not migrated`);
  }
  const entitySource = layout.propertyGraphStores[0] ?? null;
  return { dir, layout, docstore, indexes, entities, entitySource, warnings };
}

async function isFaissBinary(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    const text = head.subarray(0, bytesRead).toString('latin1');
    // JSON starts with '{' (or whitespace); a FAISS file with its fourcc, e.g. IxF2.
    return /^I[A-Za-z0-9]{3}$/.test(text);
  } finally {
    await fh.close();
  }
}

function namespaceOf(store: OpenedStore, collection: string): LlamaIndexNamespace {
  const ns = store.layout.namespaces.find((n) => n.name === collection);
  if (ns === undefined) {
    throw new MigrateError('E_FORMAT', `${store.dir} has no LlamaIndex vector-store namespace ${JSON.stringify(collection)} (it has: ${store.layout.namespaces.map((n) => n.name).join(', ')})`);
  }
  return ns;
}

function toVector(value: unknown, where: string, id: string, dims: number | null): Float32Array {
  if (!Array.isArray(value) || value.length === 0) throw new MigrateError('E_VECTOR', `${where}: the embedding of node ${JSON.stringify(id)} is not a non-empty array of numbers`);
  if (dims !== null && value.length !== dims) {
    throw new MigrateError('E_VECTOR', `${where}: the embedding of node ${JSON.stringify(id)} has ${value.length} dimensions, the ones before it ${dims}`);
  }
  const vector = new Float32Array(value.length);
  for (let k = 0; k < value.length; k++) {
    const x = value[k];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new MigrateError('E_VECTOR', `${where}: the embedding of node ${JSON.stringify(id)} holds ${JSON.stringify(x)} at ${k}, not a finite number`);
    }
    vector[k] = x;
    if (!Number.isFinite(vector[k])) throw new MigrateError('E_VECTOR', `${where}: the embedding of node ${JSON.stringify(id)} holds ${x} at ${k}, beyond float32`);
  }
  return vector;
}

/** What a namespace yields, with a callback for entity embeddings skipped on the way. */
interface NamespaceRecords {
  records: AsyncGenerator<FormatRecord>;
  skipped: () => number;
}

function jsonNamespace(store: OpenedStore, ns: LlamaIndexNamespace, file: string, withVectors: boolean): NamespaceRecords {
  const where = label(store.dir, ns.file);
  const keys = VECTOR_KEYS[store.layout.flavor];
  let skipped = 0;
  async function* records(): AsyncGenerator<FormatRecord> {
    // metadata_dict and text_id_to_ref_doc_id follow embedding_dict in the file: one pass for them, then the vectors.
    const metadataDict = new Map<string, Record<string, unknown>>();
    const refDocs = new Map<string, unknown>();
    const plan: SectionPlan = { [keys.metadata]: 'build' };
    for (const k of keys.refDocs) plan[k] = 'build';
    for await (const e of readJsonSections(file, where, plan)) {
      if (e.section !== keys.metadata) {
        refDocs.set(e.key, e.value);
        continue;
      }
      if (!isJsonObject(e.value)) throw new MigrateError('E_FORMAT', `${where}: ${keys.metadata} entry ${JSON.stringify(e.key)} is not a JSON object`);
      metadataDict.set(e.key, e.value);
    }
    const seen = new Set<string>();
    let dims: number | null = null;
    let position = 0;
    for await (const e of readJsonSections(file, where, { [keys.embeddings]: withVectors ? 'build' : 'keys' })) {
      const id = e.key;
      if (seen.has(id)) throw new MigrateError('E_FORMAT', `${where}: ${keys.embeddings} holds node ${JSON.stringify(id)} twice`);
      seen.add(id);
      const vector: Float32Array | null = withVectors ? toVector(e.value, where, id, dims) : null;
      if (vector !== null) dims = vector.length;
      const data = store.docstore.get(id);
      if (data === undefined) {
        if (store.entities.has(id)) {
          skipped++;
          continue;
        }
        throw new MigrateError(
          'E_FORMAT',
          `${where} holds an embedding for node ${JSON.stringify(id)}, which ${store.layout.docstore} lacks (the files are from different persists?): persist the index again, or restore the matching ${store.layout.docstore}`,
        );
      }
      const node = storedNode(data, label(store.dir, store.layout.docstore), id);
      const metadata = mergeMetadata(metadataDict.get(id), node.metadata, refDocs.get(id));
      checkNesting(metadata, where, id);
      yield { sourceId: id, position: position++, text: node.text, metadata, vector };
    }
  }
  return { records: records(), skipped: () => skipped };
}

/** The one vector index whose nodes_dict maps FAISS positions ("0", "1", ...) to node ids. */
function faissPositions(store: OpenedStore, where: string, header: FaissFlatIndex): Map<string, string> {
  const candidates = store.indexes.filter((i) => VECTOR_INDEX_TYPES.has(i.type) && i.nodes.size > 0 && [...i.nodes.keys()].every((k) => /^(0|[1-9][0-9]*)$/.test(k)));
  const indexFile = store.layout.indexStore ?? 'index_store.json';
  if (candidates.length !== 1) {
    throw new MigrateError(
      'E_FORMAT',
      `${where} is a FAISS index, whose positions map to nodes through ${indexFile} nodes_dict; ${candidates.length === 0 ? 'no vector index there has one' : `${candidates.length} vector indexes there have one`}`,
    );
  }
  const positions = (candidates[0] as StoredIndex).nodes;
  if (positions.size !== header.count) {
    throw new MigrateError('E_FORMAT', `${where} holds ${header.count} vectors but ${indexFile} nodes_dict maps ${positions.size} positions: the files are from different persists`);
  }
  return positions;
}

function faissNamespace(store: OpenedStore, ns: LlamaIndexNamespace, file: string, withVectors: boolean): NamespaceRecords {
  const where = label(store.dir, ns.file);
  async function* records(): AsyncGenerator<FormatRecord> {
    const header = await readFaissFlatIndex(file);
    const positions = faissPositions(store, where, header);
    const seen = new Set<string>();
    const vectors = withVectors ? header.vectors() : null;
    try {
      for (let p = 0; p < header.count; p++) {
        const id = positions.get(String(p));
        if (id === undefined) throw new MigrateError('E_FORMAT', `${where}: ${store.layout.indexStore ?? 'index_store.json'} nodes_dict maps no node to position ${p}`);
        if (seen.has(id)) throw new MigrateError('E_FORMAT', `${where}: nodes_dict maps node ${JSON.stringify(id)} to two positions`);
        seen.add(id);
        const data = store.docstore.get(id);
        if (data === undefined) throw new MigrateError('E_FORMAT', `${where}: position ${p} maps to node ${JSON.stringify(id)}, which ${store.layout.docstore} lacks`);
        const node = storedNode(data, label(store.dir, store.layout.docstore), id);
        let vector: Float32Array | null = null;
        if (vectors !== null) {
          const next = await vectors.next();
          if (next.done === true) throw new MigrateError('E_FORMAT', `${where} ends before vector ${p}`);
          vector = next.value;
        }
        checkNesting(node.metadata, where, id);
        yield { sourceId: id, position: p, text: node.text, metadata: mergeMetadata(undefined, node.metadata), vector };
      }
    } finally {
      await vectors?.return(undefined);
    }
  }
  return { records: records(), skipped: () => 0 };
}

async function namespaceRecords(store: OpenedStore, ns: LlamaIndexNamespace, withVectors: boolean): Promise<NamespaceRecords> {
  const file = await storeFile(store.dir, ns.file);
  if (!(await isFaissBinary(file))) return jsonNamespace(store, ns, file, withVectors);
  await readFaissFlatIndex(file); // refuses a non-flat index (naming its type) before any record
  return faissNamespace(store, ns, file, withVectors);
}

function failure(error: unknown, dir: string): MigrateError {
  return toMigrateError(error, 'E_FORMAT', `LlamaIndex store ${dir}`);
}

async function inspect(dir: string): Promise<FormatInspection> {
  try {
    const store = await openStore(dir);
    const collections: FormatCollection[] = [];
    const embedded = new Set<string>();
    for (const ns of store.layout.namespaces) {
      const { records, skipped } = await namespaceRecords(store, ns, true);
      let count = 0;
      let dimensions: number | null = null;
      for await (const r of records) {
        count++;
        dimensions = r.vector?.length ?? dimensions;
        embedded.add(r.sourceId);
      }
      collections.push({ name: ns.name, records: count, dimensions });
      if (skipped() > 0) {
        store.warnings.push(`${skipped()} embeddings in ${ns.file} are property-graph entities (${store.entitySource}), not documents: skipped`);
      }
    }
    for (const index of store.indexes) {
      if (!VECTOR_INDEX_TYPES.has(index.type)) continue;
      for (const id of index.nodes.values()) {
        if (embedded.has(id) || store.entities.has(id)) continue;
        throw new MigrateError(
          'E_FORMAT',
          `${label(dir, store.layout.indexStore ?? 'index_store.json')}: vector index ${JSON.stringify(index.id)} lists node ${JSON.stringify(id)}, for which no vector store holds an embedding: persist the index again (or re-insert the node) before migrating`,
        );
      }
    }
    const files = [store.layout.docstore, ...store.layout.namespaces.map((n) => n.file)];
    if (store.layout.indexStore !== null) files.push(store.layout.indexStore);
    if (store.layout.graphStore !== null) files.push(store.layout.graphStore);
    files.push(...store.layout.propertyGraphStores);
    return { format: 'llamaindex', collections, files: files.sort(), warnings: store.warnings };
  } catch (error) {
    throw failure(error, dir);
  }
}

async function* records(dir: string, collection: string, options: { withVectors: boolean }): AsyncGenerator<FormatRecord> {
  try {
    const store = await openStore(dir);
    const { records: stream } = await namespaceRecords(store, namespaceOf(store, collection), options.withVectors);
    yield* stream;
  } catch (error) {
    throw failure(error, dir);
  }
}

export const llamaIndexReader: FormatReader = {
  format: 'llamaindex',
  matches: looksLikeLlamaIndex,
  inspect,
  records,
};

/** Which LlamaIndex library wrote `dir` ('python' or 'ts'); E_FORMAT when both left files there. */
export async function llamaIndexFlavor(dir: string): Promise<'python' | 'ts'> {
  try {
    return (await detectLlamaIndexLayout(dir)).flavor;
  } catch (error) {
    throw failure(error, dir);
  }
}
