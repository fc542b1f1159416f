import { MigrateError } from '../../errors.js';
import { describePy, dictGet, type PyDict, type PyInstance, type PyValue } from '../pickle/index.js';

/**
 * What `FAISS.save_local` pickles into index.pkl: the tuple `(docstore, index_to_docstore_id)`,
 * an InMemoryDocstore whose `_dict` maps docstore ids to Documents, and `{position: id}`.
 * Documents are pydantic models; their pickled state is pydantic's `__getstate__`:
 *
 *   v1: {'__dict__', '__fields_set__', '__private_attribute_values__'}
 *   v2: {'__dict__', '__pydantic_extra__', '__pydantic_fields_set__', '__pydantic_private__'}
 *
 * Only `__dict__` carries fields (page_content, metadata, id, type); the rest is bookkeeping.
 */

const DOCSTORES = ['langchain.docstore.in_memory.InMemoryDocstore', 'langchain_community.docstore.in_memory.InMemoryDocstore'];
const DOCUMENTS = ['langchain.schema.Document', 'langchain.schema.document.Document', 'langchain.docstore.document.Document', 'langchain_core.documents.base.Document'];

/** The only classes index.pkl may name. */
export const LANGCHAIN_CLASSES: ReadonlySet<string> = new Set([...DOCSTORES, ...DOCUMENTS]);

export interface DocstoreDocument {
  id: string;
  text: string;
  metadata: Record<string, unknown>;
}

export interface LangchainDocstore {
  /** Documents in vector position order: `documents[i]` belongs to row i of index.faiss. */
  documents: DocstoreDocument[];
  /** Entries in the docstore's `_dict`. */
  docstoreCount: number;
  /** Entries in index_to_docstore_id. */
  mappingCount: number;
}

/** Containers inside containers in one Document's metadata; deeper (or cyclic) is refused. */
const MAX_DEPTH = 64;
/** Values in one Document's metadata once shared references are expanded. */
const MAX_METADATA_VALUES = 1_000_000;
/** Characters of text (keys and str values) in one Document's metadata once shared references are expanded. */
const MAX_METADATA_CHARS = 64 << 20;

function isDict(value: PyValue | undefined): value is PyDict {
  return value !== null && typeof value === 'object' && value.kind === 'dict';
}

function isInstance(value: PyValue | undefined, classes: readonly string[]): value is PyInstance {
  return value !== null && typeof value === 'object' && value.kind === 'instance' && classes.includes(value.cls);
}

/** An object's `__dict__` from its BUILD state: a dict, or pickle's `(dict, slotstate)` pair. */
function objectDict(state: PyValue | undefined): PyDict | null {
  if (isDict(state)) return state;
  if (state !== null && typeof state === 'object' && state.kind === 'tuple' && state.items.length === 2 && isDict(state.items[0])) return state.items[0];
  return null;
}

/** A pydantic model's fields: v1 and v2 both keep them under `__dict__`; a plain object is its own dict. */
function modelFields(doc: PyInstance): PyDict | null {
  const state = objectDict(doc.state);
  if (state === null) return null;
  const fields = dictGet(state, '__dict__');
  if (fields !== undefined) return isDict(fields) ? fields : null;
  return state;
}

/**
 * What the documents may expand to, all together, once shared references are followed: a
 * docstore whose Documents all point at one huge memoized value is small on disk only.
 */
export class ExpansionBudget {
  private left: number;

  constructor(
    private readonly file: string,
    private readonly maxBytes: number,
  ) {
    this.left = maxBytes;
  }

  /** A value of `chars` characters (0 for numbers, containers): about 64 bytes plus 2 per character. */
  spend(chars: number): void {
    this.left -= 64 + 2 * chars;
    if (this.left < 0) {
      throw new MigrateError('E_FORMAT', `${this.file}: the documents expand to more than ${this.maxBytes} bytes of text and metadata once shared references are followed; refused`);
    }
  }
}

class Converter {
  private values = 0;
  private chars = 0;

  constructor(
    private readonly file: string,
    private readonly where: string,
    private readonly budget: ExpansionBudget,
  ) {}

  private fail(message: string): MigrateError {
    return new MigrateError('E_FORMAT', `${this.file}: ${this.where} ${message}`);
  }

  /** Python data to JSON-able data, as json.dumps would see it (sets and tuples become arrays). */
  plain(value: PyValue, depth: number): unknown {
    if (++this.values > MAX_METADATA_VALUES) throw this.fail(`expands to more than ${MAX_METADATA_VALUES} values (shared references repeated?); refused`);
    if (typeof value === 'string') {
      this.countChars(value.length);
      return value;
    }
    this.budget.spend(0);
    if (value === null || typeof value === 'boolean') return value;
    if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
    // Beyond 2^53 a JS number would round: the exact digits are kept as text.
    if (typeof value === 'bigint') return value.toString();
    if (depth >= MAX_DEPTH) throw this.fail(`nests containers more than ${MAX_DEPTH} deep (or refers to itself); refused`);
    switch (value.kind) {
      case 'bytes':
        this.countChars(Math.ceil(value.bytes.length / 3) * 4);
        return Buffer.from(value.bytes).toString('base64');
      case 'list':
      case 'tuple':
      case 'set':
        return value.items.map((item) => this.plain(item, depth + 1));
      case 'dict':
        return this.object(value, depth);
      default:
        throw this.fail(`holds ${describePy(value)}, which is not plain data`);
    }
  }

  private countChars(n: number): void {
    this.budget.spend(n);
    this.chars += n;
    if (this.chars > MAX_METADATA_CHARS) throw this.fail(`expands to more than ${MAX_METADATA_CHARS} characters of text (shared references repeated?); refused`);
  }

  object(dict: PyDict, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of dict.pairs) {
      // defineProperty: a key named __proto__ must stay a key, not replace the prototype.
      Object.defineProperty(out, this.key(key), { value: this.plain(value, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  /** Dict keys as json.dumps writes them. */
  private key(key: PyValue): string {
    if (typeof key === 'string') {
      this.countChars(key.length);
      return key;
    }
    if (typeof key === 'bigint') return key.toString();
    if (typeof key === 'number') return Number.isFinite(key) ? String(key) : key > 0 ? 'Infinity' : key < 0 ? '-Infinity' : 'NaN';
    if (typeof key === 'boolean') return key ? 'true' : 'false';
    if (key === null) return 'null';
    throw this.fail(`has a key that is ${describePy(key)}; keys must be str, int, float, bool or None`);
  }
}

function documentOf(file: string, id: string, value: PyValue | undefined, budget: ExpansionBudget): DocstoreDocument {
  const where = `docstore entry ${JSON.stringify(id.slice(0, 100))}`;
  if (!isInstance(value, DOCUMENTS)) {
    throw new MigrateError('E_FORMAT', `${file}: ${where} is ${describePy(value)}, not a LangChain Document`);
  }
  const fields = modelFields(value);
  if (fields === null) throw new MigrateError('E_FORMAT', `${file}: ${where} is a ${value.cls} without a pickled state holding its fields`);
  const text = dictGet(fields, 'page_content');
  if (typeof text !== 'string') throw new MigrateError('E_FORMAT', `${file}: ${where} has page_content ${describePy(text)} instead of a str`);
  budget.spend(text.length);
  const convert = new Converter(file, `${where}'s metadata`, budget);
  const rawMetadata = dictGet(fields, 'metadata');
  let metadata: Record<string, unknown>;
  if (rawMetadata === undefined || rawMetadata === null) metadata = {};
  else if (isDict(rawMetadata)) metadata = convert.object(rawMetadata, 0);
  else throw new MigrateError('E_FORMAT', `${file}: ${where} has metadata that is ${describePy(rawMetadata)} instead of a dict`);
  const docId = dictGet(fields, 'id');
  if (typeof docId === 'string' && !Object.hasOwn(metadata, 'id')) metadata.id = docId;
  return { id, text, metadata };
}

/** A docstore or position key: LangChain writes str ids and int positions. */
function idOf(value: PyValue): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return null;
}

/** Turns the decoded index.pkl into documents in vector order, checking the two halves agree. */
export function langchainDocstore(file: string, top: PyValue, maxExpandedBytes: number): LangchainDocstore {
  if (top === null || typeof top !== 'object' || top.kind !== 'tuple' || top.items.length !== 2) {
    throw new MigrateError('E_FORMAT', `${file} holds ${describePy(top)}; FAISS.save_local writes the tuple (docstore, index_to_docstore_id)`);
  }
  const [docstore, mapping] = top.items;
  if (!isInstance(docstore, DOCSTORES)) {
    throw new MigrateError('E_FORMAT', `${file}: the docstore is ${describePy(docstore)}; only LangChain's InMemoryDocstore is read`);
  }
  const entries = dictGet(objectDict(docstore.state) ?? { kind: 'dict', pairs: [], index: new Map() }, '_dict');
  if (!isDict(entries)) throw new MigrateError('E_FORMAT', `${file}: the InMemoryDocstore has no _dict of documents (its state is ${describePy(docstore.state)})`);
  if (!isDict(mapping)) throw new MigrateError('E_FORMAT', `${file}: index_to_docstore_id is ${describePy(mapping)} instead of a dict`);

  const byId = new Map<string, PyValue>();
  for (const [key, value] of entries.pairs) {
    const id = idOf(key);
    if (id === null) throw new MigrateError('E_FORMAT', `${file}: the docstore has a key that is ${describePy(key)}; docstore ids are str`);
    if (byId.has(id)) throw new MigrateError('E_FORMAT', `${file}: the docstore holds the id ${JSON.stringify(id)} twice`);
    byId.set(id, value);
  }

  const count = mapping.pairs.length;
  const ids: (string | undefined)[] = new Array<string | undefined>(count);
  const used = new Set<string>();
  for (const [key, value] of mapping.pairs) {
    if (typeof key !== 'number' || !Number.isSafeInteger(key) || key < 0 || key >= count) {
      throw new MigrateError('E_FORMAT', `${file}: index_to_docstore_id has the key ${typeof key === 'number' ? key : describePy(key)}; with ${count} entries the keys are the vector positions 0..${count - 1}`);
    }
    const id = idOf(value);
    if (id === null) throw new MigrateError('E_FORMAT', `${file}: index_to_docstore_id maps position ${key} to ${describePy(value)} instead of a docstore id`);
    if (!byId.has(id)) throw new MigrateError('E_FORMAT', `${file}: index_to_docstore_id maps position ${key} to ${JSON.stringify(id)}, which the docstore does not hold`);
    if (used.has(id)) throw new MigrateError('E_FORMAT', `${file}: index_to_docstore_id maps two positions to the docstore id ${JSON.stringify(id)}`);
    used.add(id);
    ids[key] = id;
  }
  if (byId.size !== count) {
    throw new MigrateError(
      'E_FORMAT',
      `${file}: the docstore holds ${byId.size} documents but index_to_docstore_id maps ${count} positions; the store is inconsistent (saved while being modified?), so which text belongs to which vector is unknown`,
    );
  }
  const budget = new ExpansionBudget(file, maxExpandedBytes);
  const documents = ids.map((id, position) => {
    if (id === undefined) throw new MigrateError('E_FORMAT', `${file}: index_to_docstore_id has no entry for position ${position}`);
    return documentOf(file, id, byId.get(id), budget);
  });
  return { documents, docstoreCount: byId.size, mappingCount: count };
}
