/**
 * The data-pickle machine (src/source/pickle/dataVm.ts) that LangChain's index.pkl and Chroma's
 * index_metadata.pickle both go through: each format declares its own allow-list, and a global is
 * allowed only where that format's list names it. The pickles are written by real Python, with
 * stand-in modules so that the classes pickle under their real names.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrateError } from '../src/errors.js';
import { readIndexMetadata } from '../src/source/formats/chroma/indexMetadata.js';
import { unpickleData } from '../src/source/formats/dataPickle.js';
import { LANGCHAIN_CLASSES } from '../src/source/formats/langchainDocstore.js';
import { allowInstances, SET_CONSTRUCTORS, unpickle, type AllowList, type PyValue } from '../src/source/pickle/index.js';

const PERSISTENT_DATA = 'chromadb.segment.impl.vector.local_persistent_hnsw.PersistentData';
const DOCUMENT = 'langchain_core.documents.base.Document';

/** `pickle.dumps(<expression>, protocol)` with `make(qualified_name)` defining stand-in classes. */
function pythonPickle(expression: string, protocol: number): Uint8Array {
  const program = [
    'import pickle, sys, types',
    'def make(qualified):',
    "    module, name = qualified.rsplit('.', 1)",
    "    parts = module.split('.')",
    "    for i in range(1, len(parts) + 1): sys.modules.setdefault('.'.join(parts[:i]), types.ModuleType('.'.join(parts[:i])))",
    '    cls = type(name, (), {})',
    '    cls.__module__ = module',
    '    setattr(sys.modules[module], name, cls)',
    '    return cls',
    'def obj(qualified, **state):',
    '    o = make(qualified)()',
    '    o.__dict__.update(state)',
    '    return o',
    'sys.stdout.buffer.write(pickle.dumps(eval(sys.argv[1]), int(sys.argv[2])))',
  ].join('\n');
  return execFileSync('python3', ['-c', program, expression, String(protocol)]);
}

function profile(allow: AllowList, maxHeldBytes = 1 << 20): Parameters<typeof unpickle>[1] {
  return { file: 'test.pickle', kind: 'a test pickle', allow, maxHeldBytes, expected: 'Tests name only what they allow.', remedy: 'it cannot be read' };
}

function refusal(run: () => unknown): MigrateError {
  try {
    run();
  } catch (err) {
    if (err instanceof MigrateError) return err;
    throw err;
  }
  throw new Error('expected a MigrateError');
}

describe('the data-pickle machine', () => {
  it('builds an allowed class as a record of its state, and nothing else', () => {
    const bytes = pythonPickle(`obj('pkg.mod.Thing', a=1, b=[2, 'x'])`, 4);
    const value = unpickle(bytes, profile(allowInstances(['pkg.mod.Thing'])));
    expect(value).toMatchObject({ kind: 'instance', cls: 'pkg.mod.Thing', state: { kind: 'dict', pairs: [['a', 1], ['b', { kind: 'list', items: [2, 'x'] }]] } });
  });

  it('reads sets only when the allow-list holds the set types', () => {
    for (const protocol of [2, 4]) {
      // Protocol 2 pickles a set as REDUCE(builtins.set, ([...],)), protocol 4 with EMPTY_SET.
      const bytes = pythonPickle('{3, 1, 2}', protocol);
      const value = unpickle(bytes, profile(SET_CONSTRUCTORS)) as Extract<PyValue, { kind: 'set' }>;
      expect([...value.items].sort()).toEqual([1, 2, 3]);
    }
    const error = refusal(() => unpickle(pythonPickle('{3, 1, 2}', 2), profile(new Map())));
    expect(error.code).toBe('E_UNSAFE_PICKLE');
    // Protocol 2 names Python 2's module for it.
    expect(error.message).toContain('test.pickle references the global __builtin__.set');
    expect(error.message).toContain('a test pickle');
  });

  it('refuses a class the profile does not name, even one another format allows', () => {
    const bytes = pythonPickle(`obj('${PERSISTENT_DATA}', x=1)`, 4);
    const error = refusal(() => unpickle(bytes, profile(allowInstances([DOCUMENT]))));
    expect(error.code).toBe('E_UNSAFE_PICKLE');
    expect(error.message).toContain(`references the global ${PERSISTENT_DATA}`);
  });

  it('charges what it builds against the profile budget', () => {
    const bytes = pythonPickle(`['x' * 1000] * 3 + [str(i) * 100 for i in range(100)]`, 4);
    expect(unpickle(bytes, profile(new Map(), 1 << 20))).toMatchObject({ kind: 'list' });
    const error = refusal(() => unpickle(bytes, profile(new Map(), 10_000)));
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toMatch(/^test\.pickle would make the reader hold more than 10000 bytes of decoded values .*; it cannot be read$/);
  });
});

describe('each format reads only its own allow-list', () => {
  let work = '';
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'pickle-data-'));
  });
  afterAll(() => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('index.pkl naming Chroma PersistentData is refused as unsafe', () => {
    const bytes = pythonPickle(`obj('${PERSISTENT_DATA}', label_to_id={}, id_to_label={})`, 4);
    const error = refusal(() => unpickleData(bytes, { file: 'index.pkl', classes: LANGCHAIN_CLASSES, maxHeldBytes: 1 << 20 }));
    expect(error.code).toBe('E_UNSAFE_PICKLE');
    expect(error.message).toContain(`index.pkl references the global ${PERSISTENT_DATA}`);
    expect(error.message).toContain('InMemoryDocstore and Document');
  });

  it('index_metadata.pickle naming a LangChain Document or a set is refused as unsafe', async () => {
    for (const expression of [`obj('${DOCUMENT}', page_content='x')`, `obj('${PERSISTENT_DATA}', label_to_id={}, id_to_label={}, extra={1, 2})`]) {
      const path = join(work, 'index_metadata.pickle');
      writeFileSync(path, pythonPickle(expression, 2));
      const error = await readIndexMetadata(path, 'seg/index_metadata.pickle').then(
        () => new Error('accepted'),
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(MigrateError);
      expect((error as MigrateError).code).toBe('E_UNSAFE_PICKLE');
      expect((error as MigrateError).message).toMatch(/^seg\/index_metadata\.pickle references the global (langchain_core\.documents\.base\.Document|__builtin__\.set) .*An HNSW id map names only chromadb/);
    }
  });

  it('an id map pickled by Python reads the same through the shared machine', async () => {
    const path = join(work, 'id-map.pickle');
    writeFileSync(path, pythonPickle(`obj('${PERSISTENT_DATA}', dimensionality=3, total_elements_added=2, max_seq_id=2**70, id_to_label={'a': 1, 'b': 2}, label_to_id={1: 'a', 2: 'b'})`, 5));
    const metadata = await readIndexMetadata(path, 'id-map.pickle');
    expect(metadata).toEqual({ dimensionality: 3, totalElementsAdded: 2, maxSeqId: 2n ** 70n, labelToId: new Map([[1, 'a'], [2, 'b']]) });
  });
});
