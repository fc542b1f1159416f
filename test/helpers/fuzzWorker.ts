/**
 * Runs the real source readers (from dist/, as the CLI does) on hostile input inside a
 * worker_threads Worker with a hard heap limit and a per-input deadline, so "bounded time" and
 * "bounded memory" are enforced: a hang or an out-of-memory death of the worker fails the test
 * instead of taking the test process down or timing out the whole suite.
 *
 * For every input the worker answers with either a well-formed result or the error it got. The
 * worker itself checks well-formedness (vectors finite, of one length, counts agreeing between
 * the streaming and the inspecting entry points; entries plain objects; Object.prototype
 * untouched), and reports a violation as a non-MigrateError, so the caller's single check
 * "ok, or a coded MigrateError" covers it.
 */
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from './paths.js';

export type FuzzTask =
  | { kind: 'pickle'; path: string }
  | { kind: 'fernet-buffer'; token: Uint8Array | string }
  | { kind: 'fernet-file'; path: string }
  | { kind: 'metadata'; path: string }
  | { kind: 'store'; dir: string; vectorsPath: string | null; metadataPath: string | null }
  /** A third-party store (src/source/formats): inspect, then stream every collection with vectors. */
  | { kind: 'format'; format: string; dir: string };

export interface ErrorLink {
  name: string;
  /** MigrateError's code, or a Node system/library error's code. */
  code: string | null;
  message: string;
}

export type FuzzOutcome = { ok: true; summary: Record<string, unknown> } | { ok: false; chain: ErrorLink[]; stack: string };

export interface FuzzWorkerOptions {
  /** How the worker derives the Fernet key: deriveUserKey(user, master) (master null: default key). */
  key: { user: string; master: string | null };
  maxOldGenerationSizeMb?: number;
}

// CommonJS, evaluated in the worker: it imports the built ES modules by URL.
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const ready = (async () => {
  const load = (p) => import(workerData.dist + p);
  const [pickle, fernet, keys, metadata, store, formats] = await Promise.all([
    load('source/pickle/index.js'), load('source/fernet.js'), load('source/keys.js'), load('source/metadata.js'), load('source/store.js'), load('source/formats/index.js'),
  ]);
  const key = await keys.deriveUserKey(workerData.key.user, workerData.key.master === null ? undefined : workerData.key.master);
  return { pickle, fernet, metadata, store, formats, key };
})();
const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).join(',');
class Malformed extends Error { constructor(m) { super(m); this.name = 'Malformed'; } }
function check(cond, what) { if (!cond) throw new Malformed(what); }

function checkVector(v, dims, i) {
  check(v instanceof Float32Array || v instanceof Float64Array, 'vector ' + i + ' is not a Float32Array/Float64Array');
  check(v.length > 0, 'vector ' + i + ' is empty');
  check(dims === null || v.length === dims, 'vector ' + i + ' has ' + v.length + ' dimensions, not ' + dims);
  for (let k = 0; k < v.length; k++) check(Number.isFinite(v[k]), 'vector ' + i + ' holds ' + v[k]);
  return v.length;
}

function checkEntry(e, i) {
  check(typeof e === 'object' && e !== null && !Array.isArray(e), 'entry ' + i + ' is not an object');
  check(Object.getPrototypeOf(e) === Object.prototype, 'entry ' + i + ' has another prototype');
  // What the loader does with it (jsonb): must not overflow the stack.
  return JSON.stringify(e);
}

async function drain(stream) {
  let n = 0;
  for await (const chunk of stream) n += chunk.length;
  return n;
}

async function run(m, t) {
  switch (t.kind) {
    case 'pickle': {
      let n = 0, dims = null;
      for await (const v of m.pickle.readPickledVectors(t.path)) dims = checkVector(v, dims, n++);
      const info = await m.pickle.inspectPickledVectors(t.path);
      check(info.count === n, 'inspect counts ' + info.count + ' vectors, streaming gave ' + n);
      check(n === 0 || info.dimensions === dims, 'inspect says ' + info.dimensions + ' dimensions, streaming gave ' + dims);
      return { count: n, dimensions: info.dimensions, shape: info.shape };
    }
    case 'fernet-buffer':
      return { bytes: m.fernet.fernetDecrypt(t.token, m.key, { label: 'the token' }).length };
    case 'fernet-file':
      return { bytes: await drain(await m.fernet.openFernetFile(t.path, m.key, { label: 'the token file' })) };
    case 'metadata': {
      const ctx = { userId: workerData.key.user, collection: 'fuzz' };
      let n = 0, size = 0;
      const json = [];
      for await (const e of m.metadata.readMetadataEntries(t.path, m.key, ctx)) {
        const text = checkEntry(e, n++);
        size += text.length;
        if (size < 1e6) json.push(text);
      }
      const counted = await m.metadata.countMetadataEntries(t.path, m.key, ctx);
      check(counted === n, 'countMetadataEntries gives ' + counted + ', reading gave ' + n);
      return { entries: n, json: size < 1e6 ? '[' + json.join(',') + ']' : null };
    }
    case 'store': {
      const loc = { userId: workerData.key.user, collection: 'fuzz', dir: t.dir, vectorsPath: t.vectorsPath, metadataPath: t.metadataPath };
      const inspection = await m.store.inspectStore(loc, m.key);
      if (inspection.error !== null) throw inspection.error;
      let n = 0, dims = null;
      for await (const r of m.store.readStoreRecords(loc, m.key, { withVectors: true })) {
        check(r.index === n, 'record ' + n + ' has index ' + r.index);
        checkEntry(r.entry, n);
        dims = checkVector(r.vector, dims, n++);
      }
      check(n === inspection.manifest.entries && n === inspection.manifest.vectors, 'inspectStore counted ' + JSON.stringify(inspection.manifest) + ', reading gave ' + n);
      return { records: n };
    }
    case 'format': {
      const reader = m.formats.FORMAT_READERS.find((r) => r.format === t.format);
      check(reader !== undefined, 'no reader for ' + t.format);
      const inspection = await reader.inspect(t.dir);
      let total = 0;
      for (const c of inspection.collections) {
        let n = 0, dims = null;
        for await (const r of reader.records(t.dir, c.name, { withVectors: true })) {
          check(r.position === n, 'record ' + n + ' has position ' + r.position);
          check(typeof r.sourceId === 'string' && typeof r.text === 'string', 'record ' + n + ' lacks a string id or text');
          checkEntry(r.metadata, n);
          if (r.vector !== null) dims = checkVector(r.vector, dims, n);
          n++;
        }
        check(n === c.records, 'inspect counted ' + c.records + ' records in ' + c.name + ', reading gave ' + n);
        check(dims === null || c.dimensions === dims, 'inspect says ' + c.dimensions + ' dimensions, reading gave ' + dims);
        total += n;
      }
      return { collections: inspection.collections.length, records: total };
    }
    default:
      throw new Malformed('unknown task ' + t.kind);
  }
}

function chainOf(error) {
  const chain = [];
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 10; e = e.cause, depth++) {
    chain.push({
      name: e instanceof Error ? (e.constructor && e.constructor.name) || e.name : typeof e,
      code: typeof e.code === 'string' ? e.code : null,
      message: e instanceof Error ? e.message : String(e),
    });
  }
  return chain;
}

parentPort.on('message', async ({ id, task }) => {
  const m = await ready;
  let out;
  try {
    out = { ok: true, summary: await run(m, task) };
  } catch (error) {
    out = { ok: false, chain: chainOf(error), stack: error instanceof Error ? String(error.stack) : '' };
  }
  if (Object.getOwnPropertyNames(Object.prototype).join(',') !== PROTO_KEYS || ({}).polluted !== undefined) {
    out = { ok: false, chain: [{ name: 'Malformed', code: null, message: 'Object.prototype was modified' }], stack: '' };
  }
  parentPort.postMessage({ id, out });
});
`;

/** A worker that died or missed its deadline: the guarantee under test is broken. */
export class FuzzAbort extends Error {
  override name = 'FuzzAbort';
}

export class FuzzWorker {
  private worker: Worker | null = null;
  private nextId = 0;
  private current: { id: number; resolve: (o: FuzzOutcome) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;

  constructor(private readonly options: FuzzWorkerOptions) {}

  private start(): Worker {
    const limit = this.options.maxOldGenerationSizeMb ?? 256;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { dist: pathToFileURL(path.join(REPO, 'dist')).href + '/', key: this.options.key },
      resourceLimits: { maxOldGenerationSizeMb: limit, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
    });
    worker.on('message', (msg: { id: number; out: FuzzOutcome }) => {
      const c = this.current;
      if (c === null || c.id !== msg.id) return;
      clearTimeout(c.timer);
      this.current = null;
      c.resolve(msg.out);
    });
    const die = (why: string) => {
      if (this.worker !== worker) return; // a worker already replaced (after a deadline) is not the current one
      this.worker = null;
      const c = this.current;
      if (c === null) return;
      clearTimeout(c.timer);
      this.current = null;
      c.reject(new FuzzAbort(why));
    };
    worker.on('error', (e: Error & { code?: string }) => die(`the worker died: ${e.code ?? e.name}: ${e.message} (over the ${limit} MB heap limit if ERR_WORKER_OUT_OF_MEMORY)`));
    worker.on('exit', (code) => die(`the worker exited with code ${code}`));
    this.worker = worker;
    return worker;
  }

  /** Runs one task; rejects with FuzzAbort if the worker dies or the deadline passes. */
  run(task: FuzzTask, deadlineMs: number): Promise<FuzzOutcome> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<FuzzOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.current = null;
        if (this.worker === worker) this.worker = null;
        void worker.terminate();
        reject(new FuzzAbort(`no answer within ${deadlineMs} ms (hang or runaway work) on a ${task.kind} input`));
      }, deadlineMs);
      this.current = { id, resolve, reject, timer };
      worker.postMessage({ id, task });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w !== null) {
      w.removeAllListeners('exit');
      w.removeAllListeners('error');
      await w.terminate();
    }
  }
}

const CODES = new Set([
  'E_PATH',
  'E_MISSING_FILE',
  'E_UNSAFE_PICKLE',
  'E_PICKLE',
  'E_DECRYPT',
  'E_METADATA',
  'E_COUNT_MISMATCH',
  'E_VECTOR',
]);

/** Errors a JavaScript engine raises for a bug (or a blown stack), as opposed to an I/O or crypto error. */
const ENGINE_ERRORS = new Set(['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'InternalError', 'EvalError']);

/**
 * Why an outcome breaks the guarantee ("succeeds well-formed, or ends in a coded error"), or
 * null. A MigrateError whose cause is an engine error without a Node error code (e.g. a
 * TypeError from a bug, a RangeError from a blown stack or an impossible allocation) is a crash
 * that happened to be wrapped, and counts as a violation too; TextDecoder's and OpenSSL's coded
 * errors are legitimate causes.
 */
export function violation(outcome: FuzzOutcome, allowed: ReadonlySet<string> = CODES): string | null {
  if (outcome.ok) return null;
  const [top] = outcome.chain;
  if (top === undefined) return 'no error at all';
  if (top.name !== 'MigrateError' || top.code === null) return `not a coded MigrateError: ${top.name}: ${top.message}\n${outcome.stack}`;
  if (!allowed.has(top.code)) return `unexpected code ${top.code}: ${top.message}`;
  if (/^(undefined|null|NaN|\[object )/.test(top.message) || top.message.trim() === '') return `an uninformative message: ${JSON.stringify(top.message)}`;
  for (const link of outcome.chain.slice(1)) {
    if (ENGINE_ERRORS.has(link.name) && link.code === null) return `a wrapped ${link.name}: ${link.message}\n${outcome.stack}`;
  }
  return null;
}
