import path from 'node:path';
import { sha256OfFile } from '../hash.js';
import { MigrateError, toMigrateError } from '../errors.js';
import { inPlannedBatches, lengthSortedBatches, type BatchLimits } from './batching.js';
import { meanPoolNormalized, normalizeInPlace, pool } from './pooling.js';
import { DEFAULT_STEPS, localFileReader, readSentenceEmbeddingSteps, type SentenceEmbeddingSteps } from './sentenceTransformers.js';
import { closingTokens, encodeTexts, keepClosingTokens, padBatch, tokenCount, type BatchTokenizer, type Encoding } from './tokens.js';
import type { ModelIdentity } from './embeddingSpace.js';
import { checkModelDirectory, findCachedHubModel, resolveModelSource, type ModelDtype, type ModelSource } from './modelSource.js';

export type { ModelDtype } from './modelSource.js';

export interface EmbedderOptions {
  /** A hub id such as 'Xenova/all-MiniLM-L6-v2', or a local model directory (absolute or relative to `cwd`). */
  model: string;
  /** Where hub models are cached; default transformers.js's own cache (node_modules/@huggingface/transformers/.cache). */
  cacheDir?: string;
  /** Whether a hub model missing from the cache may be downloaded. Local directories never download. */
  allowRemoteModels: boolean;
  /** Never touch the network, even when allowRemoteModels is true. */
  localFilesOnly?: boolean;
  /** Which ONNX file to load (fp32: onnx/model.onnx, q8: onnx/model_quantized.onnx, ...); default the model's own choice, else fp32. */
  dtype?: ModelDtype;
  /** Base for a relative model directory; default process.cwd(). */
  cwd?: string;
  /** onnxruntime's threads per model call; default its own choice (one per physical core). Processes sharing a machine each want fewer. */
  threads?: number;
}

export interface Embedder {
  /** The hub id, or the local directory as it was given. */
  readonly modelId: string;
  readonly dimensions: number;
  /** What the vectors' space records of the model (embeddingSpace.ts). */
  readonly identity: ModelIdentity;
  /**
   * One unit-length Float32Array per text, in the texts' order. Without `batchSize` the texts go
   * through the model as one batch. With it, texts beyond one batch are grouped by token count
   * (see batching.ts) into batches of at most `batchSize`, which pads far less than batches in
   * the given order, and batches of long texts hold fewer of them (BATCH_LIMITS); the
   * vectors are the same either way (padding is masked out).
   */
  embed(texts: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export interface EmbedOptions {
  /** Most texts per model call (a positive integer); default all of them in one call. */
  batchSize?: number;
  /** Told the number of texts of each model call once it is done. */
  onProgress?: (texts: number) => void;
}

/**
 * Limits of one model call once texts are grouped by length: at most 2048 tokens (texts x longest
 * text, padding included) and 2^19 for texts x longest² — 16 texts of 128 tokens, 8 of 256, 2 of
 * 500. Attention holds batch x heads x length² floats: 32 texts of 512 tokens need ~400 MB per
 * layer's scores for MiniLM (measured peak RSS over 1 GB). onnxruntime's arena keeps blocks sized
 * for the largest batch it has seen and never shrinks (Node cannot reach its arena options), so
 * these caps set the plateau: on 9,717 mixed texts embedding alone peaked at 599 MB with 4096 /
 * 2^20 and 461 MB with 2048 / 2^19, at the same rate (45.8 vs 46.2 docs/s, back to back).
 */
export const BATCH_LIMITS: Readonly<BatchLimits> = { maxTokens: 2048, maxAttention: 1 << 19 };

type Transformers = typeof import('@huggingface/transformers');
type FeatureExtractionPipeline = import('@huggingface/transformers').FeatureExtractionPipeline;

const PROBE_TEXT = 'dimension probe';

let transformersModule: Promise<Transformers> | null = null;
/** transformers.js's own default cache directory, read before this module ever changes env. */
let libraryCacheDir: string | null = null;
let libraryLocalModelPath: string | null = null;

/** Imported lazily: it pulls in onnxruntime-node, which commands that never embed do not need. */
function loadTransformers(): Promise<Transformers> {
  transformersModule ??= import('@huggingface/transformers').then(
    (mod) => {
      libraryCacheDir = mod.env.cacheDir;
      libraryLocalModelPath = mod.env.localModelPath;
      return mod;
    },
    (err: unknown) => {
      transformersModule = null;
      throw toMigrateError(err, 'E_MODEL', 'cannot load @huggingface/transformers (and onnxruntime-node)');
    },
  );
  return transformersModule;
}

/** The subset of transformers.js's global `env` that model loading reads. */
interface LoadEnv {
  allowLocalModels: boolean;
  allowRemoteModels: boolean;
  useFSCache: boolean;
  cacheDir: string | null;
}

let loadQueue: Promise<unknown> = Promise.resolve();

/**
 * Runs `load` with transformers.js's module-level `env` set to `settings`, then puts the previous
 * values back. This is the only place in the project that touches `env`.
 *
 * Why not per-call options only: `pipeline()` does accept `cache_dir` and `local_files_only`, and
 * we pass them, but before loading it calls `get_pipeline_files()`, which reads config.json and
 * probes tokenizer_config.json with neither option (transformers.js 4.3.1,
 * utils/model_registry/get_pipeline_files.js). That step uses `env.cacheDir` and
 * `env.allowRemoteModels`, so without them a per-call `local_files_only` would still go to the
 * network and a per-call `cache_dir` would not find a cached model. `env.useFSCache` has no
 * per-call form at all; we turn it off for local directories so a stray file under the cache
 * cannot shadow the directory's own files. Loads are serialized so two concurrent loads never see
 * each other's settings; inference reads none of these, so `embed` needs no lock.
 */
function withLoadEnv<T>(tf: Transformers, settings: LoadEnv, load: () => Promise<T>): Promise<T> {
  const run = async (): Promise<T> => {
    const { env } = tf;
    const saved: LoadEnv = {
      allowLocalModels: env.allowLocalModels,
      allowRemoteModels: env.allowRemoteModels,
      useFSCache: env.useFSCache,
      cacheDir: env.cacheDir,
    };
    Object.assign(env, settings);
    try {
      return await load();
    } finally {
      Object.assign(env, saved);
    }
  };
  const result = loadQueue.then(run, run);
  loadQueue = result.catch(() => undefined);
  return result;
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

interface LoadPlan {
  source: ModelSource;
  /** What to hand to pipeline(): an absolute directory, or the hub id. */
  target: string;
  env: LoadEnv;
  cacheDir: string | null;
  remote: boolean;
  /** Where the message says we looked. */
  where: string;
}

function planLoad(opts: EmbedderOptions, source: ModelSource): LoadPlan {
  if (source.kind === 'local') {
    checkModelDirectory(source.dir, `model ${source.id}`, opts.dtype);
    return {
      source,
      // Always absolute: a relative 'models/x' would pass transformers.js's hub-id test and be
      // looked up under env.localModelPath instead of the working directory.
      target: source.dir,
      env: { allowLocalModels: true, allowRemoteModels: false, useFSCache: false, cacheDir: libraryCacheDir },
      cacheDir: null,
      remote: false,
      where: source.dir,
    };
  }
  const cacheDir = opts.cacheDir ?? libraryCacheDir;
  const remote = opts.allowRemoteModels && opts.localFilesOnly !== true;
  if (!remote) {
    const roots = [cacheDir, libraryLocalModelPath].filter((d): d is string => d !== null);
    const cached = findCachedHubModel(source.id, roots);
    if (cached === null) {
      throw new MigrateError(
        'E_MODEL',
        `model ${source.id} is not in the cache at ${cacheDir ?? '(no cache directory)'} and remote downloads are disabled: pass --model <local directory> or allow downloads`,
      );
    }
    checkModelDirectory(cached, `cached model ${source.id}`, opts.dtype);
  }
  return {
    source,
    target: source.id,
    env: { allowLocalModels: true, allowRemoteModels: remote, useFSCache: true, cacheDir },
    cacheDir,
    remote,
    where: `the cache at ${cacheDir ?? '(none)'}${remote ? ' or the Hugging Face Hub' : ''}`,
  };
}

/** The directory the pipeline loaded from: the local one, or the file cache of a hub model (null when not in a file cache). */
function loadedModelDir(plan: LoadPlan): string | null {
  return plan.source.kind === 'local'
    ? plan.source.dir
    : findCachedHubModel(plan.source.id, [plan.cacheDir, libraryLocalModelPath].filter((d): d is string => d !== null));
}

/** The ONNX file the pipeline loaded (local directory, or the file cache of a hub model), if it can be found. */
function locateOnnxFile(plan: LoadPlan, opts: EmbedderOptions): { path: string; name: string } | null {
  const dir = loadedModelDir(plan);
  if (dir === null) return null;
  try {
    const name = `onnx/${checkModelDirectory(dir, `model ${plan.source.id}`, opts.dtype)}`;
    return { path: path.join(dir, name), name };
  } catch {
    return null;
  }
}

function numberField(config: unknown, key: string): number | null {
  if (config === null || typeof config !== 'object') return null;
  const value = (config as Record<string, unknown>)[key];
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : null;
}

/**
 * The feature-extraction pipeline's steps (tokenize with padding and truncation, run the model),
 * with tokens computed once per text (tokens.ts) and our own pooling (pooling.ts): with the
 * default steps the vectors are the pipeline's `{ pooling: 'mean', normalize: true }` output, bit
 * for bit (test/embedder.test.ts checks it).
 */
async function runBatch(pipe: FeatureExtractionPipeline, tensor: TensorConstructor, encodings: readonly Encoding[], modelId: string, steps: SentenceEmbeddingSteps): Promise<Float32Array[]> {
  const padded = padBatch(pipe.tokenizer, encodings);
  const inputs: Record<string, TensorLike> = Object.fromEntries(Object.entries(padded).map(([key, t]) => [key, new tensor('int64', t.data, t.dims)]));
  let outputs: Record<string, TensorLike | undefined> = {};
  try {
    outputs = (await pipe.model(inputs)) as Record<string, TensorLike | undefined>;
    const hidden = outputs['last_hidden_state'] ?? outputs['token_embeddings'];
    const mask = padded['attention_mask'];
    if (hidden === undefined || mask === undefined) throw new MigrateError('E_EMBED', `model ${modelId} returned no last_hidden_state (a feature-extraction model must)`);
    if (!(hidden.data instanceof Float32Array)) throw new MigrateError('E_EMBED', `model ${modelId} returned ${hidden.type} embeddings, expected float32`);
    const rows =
      steps.pooling === 'mean' && steps.normalize
        ? meanPoolNormalized(hidden.data, hidden.dims, mask.data)
        : pool(steps.pooling, hidden.data, hidden.dims, mask.data).map((row) => (steps.normalize ? normalizeInPlace(row) : row));
    if (rows.length !== encodings.length) throw new MigrateError('E_EMBED', `model ${modelId} returned ${rows.length} vectors for ${encodings.length} texts`);
    rows.forEach((row, i) => {
      for (const v of row) if (!Number.isFinite(v)) throw new MigrateError('E_EMBED', `model ${modelId} returned a non-finite value for text ${i} of the batch`);
    });
    return rows;
  } finally {
    for (const t of [...Object.values(outputs), ...Object.values(inputs)]) t?.dispose();
  }
}

type TensorConstructor = new (type: 'int64', data: BigInt64Array, dims: number[]) => TensorLike;

/** What runBatch reads of transformers.js's Tensor. */
interface TensorLike {
  data: unknown;
  dims: number[];
  type: string;
  dispose(): void;
}

/**
 * Loads a feature-extraction model once and embeds batches with mean pooling and L2
 * normalization, or the pooling, normalization and window its sentence-transformers files ask for
 * (sentenceTransformers.ts). Texts longer than the window are truncated by the tokenizer.
 */
export async function createEmbedder(opts: EmbedderOptions): Promise<Embedder> {
  const source = resolveModelSource(opts.model, opts.cwd ?? process.cwd());
  const tf = await loadTransformers();
  const plan = planLoad(opts, source);
  const modelId = source.id;
  // A local directory's files are read before the (slower) load so that a refusal comes first.
  const localSteps = source.kind === 'local' ? readSentenceEmbeddingSteps(localFileReader(source.dir), `model ${modelId}`) : null;

  let pipe: FeatureExtractionPipeline;
  try {
    pipe = await withLoadEnv(tf, plan.env, () =>
      tf.pipeline('feature-extraction', plan.target, {
        ...(plan.cacheDir === null ? {} : { cache_dir: plan.cacheDir }),
        local_files_only: !plan.remote,
        device: 'cpu',
        ...(opts.dtype === undefined ? {} : { dtype: opts.dtype }),
        ...(opts.threads === undefined ? {} : { session_options: { intraOpNumThreads: opts.threads } }),
      }),
    );
  } catch (err) {
    if (err instanceof MigrateError) throw err;
    const hint = plan.remote
      ? 'check the model id and network access, or pass --model <local directory>'
      : 'pass --model <local directory> holding config.json, tokenizer files and onnx/model.onnx';
    throw new MigrateError('E_MODEL', `cannot load model ${modelId} from ${plan.where}: ${describeError(err)}; ${hint}`, { cause: err });
  }

  try {
    const tokenizer = pipe.tokenizer as FeatureExtractionPipeline['tokenizer'] | undefined;
    if (tokenizer === undefined || tokenizer === null) {
      throw new MigrateError('E_MODEL', `model ${modelId} has no tokenizer (tokenizer.json / tokenizer_config.json); a text model needs one`);
    }
    const config: unknown = pipe.model.config;
    // The pipeline truncates to tokenizer.model_max_length, which is Infinity when
    // tokenizer_config.json lacks it; position embeddings stop at max_position_embeddings, so a
    // long text would then fail inside onnxruntime. Cap the window at the positions the model has.
    const positions = numberField(config, 'max_position_embeddings');
    const window = tokenizer.model_max_length;
    if (positions !== null && !(window <= positions)) {
      Object.defineProperty(tokenizer, 'model_max_length', { value: positions, configurable: true });
    }

    // A hub model's optional files are read from the file cache the loader filled; transformers.js
    // does not fetch them, so a model it downloaded has none and keeps the default steps.
    const cachedDir = localSteps === null ? loadedModelDir(plan) : null;
    const steps = localSteps ?? (cachedDir === null ? { ...DEFAULT_STEPS } : readSentenceEmbeddingSteps(localFileReader(cachedDir), `cached model ${modelId}`));
    const tokenWindow = Math.min(tokenizer.model_max_length, steps.maxSeqLength ?? Infinity);

    const hidden = numberField(config, 'hidden_size');
    const batchTokenizer = tokenizer as unknown as BatchTokenizer;
    // sentence-transformers truncates with Python's tokenizers, which keep the closing [SEP].
    const closing = steps.maxSeqLength === null ? null : closingTokens(batchTokenizer);
    const [probe] = await runBatch(pipe, tf.Tensor, encodeTexts(batchTokenizer, [PROBE_TEXT], tokenWindow), modelId, steps).catch((err: unknown) => {
      throw toMigrateError(err, 'E_MODEL', `model ${modelId} loaded but cannot embed a probe text`);
    });
    const dimensions = probe?.length ?? 0;
    if (dimensions === 0 || (hidden !== null && hidden !== dimensions)) {
      throw new MigrateError('E_MODEL', `model ${modelId} embeds to ${dimensions} dimensions but its config.json says hidden_size ${hidden ?? '(none)'}`);
    }
    const onnx = locateOnnxFile(plan, opts);
    const identity: ModelIdentity = {
      model: modelId,
      modelSha256: onnx === null ? null : (await sha256OfFile(onnx.path)).sha256,
      onnxFile: onnx?.name ?? null,
      pooling: steps.pooling,
      normalized: steps.normalize,
      dimensions,
      ...(steps.maxSeqLength === null ? {} : { maxSeqLength: steps.maxSeqLength }),
      ...(opts.dtype === undefined || opts.dtype === 'fp32' ? {} : { dtype: opts.dtype }),
    };
    return new PipelineEmbedder(pipe, batchTokenizer, tf.Tensor, modelId, dimensions, identity, steps, tokenWindow, closing);
  } catch (err) {
    await pipe.dispose().catch(() => undefined);
    throw toMigrateError(err, 'E_MODEL', `cannot use model ${modelId}`);
  }
}

class PipelineEmbedder implements Embedder {
  private disposed = false;

  constructor(
    private readonly pipe: FeatureExtractionPipeline,
    private readonly tokenizer: BatchTokenizer,
    private readonly tensor: TensorConstructor,
    readonly modelId: string,
    readonly dimensions: number,
    readonly identity: ModelIdentity,
    private readonly steps: SentenceEmbeddingSteps,
    /** Tokens the model sees of one text: the tokenizer's window, or max_seq_length when smaller. */
    private readonly window: number,
    /** The special tokens a text truncated at the window must still end with; null: cut as transformers.js cuts. */
    private readonly closing: Encoding | null,
  ) {}

  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    if (this.disposed) throw new MigrateError('E_EMBED', `the embedder for ${this.modelId} has been disposed`);
    const batchSize = options.batchSize ?? texts.length;
    if (options.batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize >= 1)) {
      throw new MigrateError('E_USAGE', `the batch size must be a positive integer, not ${String(options.batchSize)}`);
    }
    // The tokenizer rejects an empty batch ("text array must be non-empty").
    if (texts.length === 0) return [];
    const run = async (batch: readonly Encoding[]): Promise<Float32Array[]> => {
      const vectors = await runBatch(this.pipe, this.tensor, batch, this.modelId, this.steps);
      options.onProgress?.(batch.length);
      return vectors;
    };
    try {
      const cut = encodeTexts(this.tokenizer, texts, this.window);
      const closing = this.closing;
      const encodings = closing === null ? cut : cut.map((e) => keepClosingTokens(e, closing));
      if (texts.length <= batchSize) return await run(encodings);
      const plan = lengthSortedBatches(encodings.map(tokenCount), batchSize, BATCH_LIMITS);
      return await inPlannedBatches(encodings, plan, run);
    } catch (err) {
      throw toMigrateError(err, 'E_EMBED', `embedding ${texts.length} texts with ${this.modelId} failed`);
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.pipe.dispose();
  }
}
