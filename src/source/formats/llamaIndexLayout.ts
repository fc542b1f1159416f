/**
 * Which files of a LlamaIndex persist directory hold what, told from file names alone: Python's
 * `storage_context.persist()` writes docstore.json, TS's (`llamaindex` npm) doc_store.json; both
 * write `{namespace}__vector_store.json` or, in Python 0.6 and in TS, a bare vector_store.json.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { MigrateError } from '../../errors.js';

export type LlamaIndexFlavor = 'python' | 'ts';

export interface LlamaIndexNamespace {
  /** The vector-store namespace (`default`, `image`, ...): the reader's collection name. */
  name: string;
  file: string;
}

export interface LlamaIndexLayout {
  flavor: LlamaIndexFlavor;
  docstore: string;
  indexStore: string | null;
  namespaces: LlamaIndexNamespace[];
  /** graph_store.json (KG triplets) and *property_graph_store.json, present or not. */
  graphStore: string | null;
  propertyGraphStores: string[];
}

const PY_DOCSTORE = 'docstore.json';
const TS_DOCSTORE = 'doc_store.json';
const LEGACY_VECTORS = 'vector_store.json';
const NAMESPACED_VECTORS = /^(.+)__vector_store\.json$/;

async function fileNames(dir: string): Promise<Set<string>> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return new Set(entries.filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name));
  } catch {
    return new Set();
  }
}

function hasVectorStore(names: Set<string>): boolean {
  for (const name of names) if (name === LEGACY_VECTORS || NAMESPACED_VECTORS.test(name)) return true;
  return false;
}

export async function looksLikeLlamaIndex(dir: string): Promise<boolean> {
  const names = await fileNames(dir);
  return (names.has(PY_DOCSTORE) || names.has(TS_DOCSTORE)) && hasVectorStore(names);
}

export async function detectLlamaIndexLayout(dir: string): Promise<LlamaIndexLayout> {
  const names = await fileNames(dir);
  if (names.has(PY_DOCSTORE) && names.has(TS_DOCSTORE)) {
    throw new MigrateError(
      'E_FORMAT',
      `${dir} holds both a LlamaIndex Python docstore (docstore.json) and a LlamaIndex TS one (doc_store.json): move one persist into its own directory`,
    );
  }
  const flavor: LlamaIndexFlavor = names.has(TS_DOCSTORE) ? 'ts' : 'python';
  const docstore = flavor === 'ts' ? TS_DOCSTORE : PY_DOCSTORE;
  if (!names.has(docstore)) throw new MigrateError('E_FORMAT', `${dir} has no ${PY_DOCSTORE} (LlamaIndex Python) or ${TS_DOCSTORE} (LlamaIndex TS): the node texts are there`);
  const namespaces: LlamaIndexNamespace[] = [];
  for (const name of [...names].sort()) {
    const m = NAMESPACED_VECTORS.exec(name);
    if (m !== null) namespaces.push({ name: m[1] as string, file: name });
  }
  if (names.has(LEGACY_VECTORS)) {
    if (namespaces.some((n) => n.name === 'default')) {
      throw new MigrateError(
        'E_FORMAT',
        `${dir} holds both vector_store.json and default__vector_store.json, two copies of the default namespace from different LlamaIndex versions: remove the stale one`,
      );
    }
    namespaces.push({ name: 'default', file: LEGACY_VECTORS });
  }
  if (namespaces.length === 0) throw new MigrateError('E_FORMAT', `${dir} has a LlamaIndex docstore but no *vector_store.json`);
  return {
    flavor,
    docstore,
    indexStore: names.has('index_store.json') ? 'index_store.json' : null,
    namespaces,
    graphStore: names.has('graph_store.json') ? 'graph_store.json' : null,
    propertyGraphStores: [...names].filter((n) => n.endsWith('property_graph_store.json')).sort(),
  };
}

/**
 * The real path of `name` in `dir`, refusing a symlink (or anything else) that resolves outside
 * the store directory, and anything that is not a regular file.
 */
export async function storeFile(dir: string, name: string): Promise<string> {
  const root = await realpath(dir);
  let real: string;
  try {
    real = await realpath(path.join(dir, name));
  } catch (error) {
    throw new MigrateError('E_FORMAT', `${path.join(dir, name)} cannot be opened: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const rel = path.relative(root, real);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new MigrateError('E_PATH', `${path.join(dir, name)} resolves to ${real}, outside the store directory ${root}: copy the file into the store instead of linking it`);
  }
  if (!(await stat(real)).isFile()) throw new MigrateError('E_FORMAT', `${path.join(dir, name)} is not a regular file`);
  return real;
}
