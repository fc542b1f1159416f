import fs from 'node:fs';
import path from 'node:path';
import { MigrateError } from '../errors.js';

/**
 * What Python sentence-transformers reads from a model directory besides the transformer itself:
 * `sentence_bert_config.json` (the token window, `max_seq_length`), `modules.json` (the steps
 * after the transformer: Pooling, Normalize) and the pooling module's `config.json` (usually
 * `1_Pooling/config.json`: which pooling). Vectors made by the Python app from such a directory
 * only match ours when we follow the same files. A step we cannot reproduce (Dense layers, prompts,
 * lowercasing, weighted pooling) is refused with E_MODEL rather than silently made differently.
 */
export type PoolingMode = 'mean' | 'cls' | 'max';

export interface SentenceEmbeddingSteps {
  pooling: PoolingMode;
  normalize: boolean;
  /** `max_seq_length` of sentence_bert_config.json; null without it (the tokenizer's window). */
  maxSeqLength: number | null;
}

/** A directory without any of these files: what the embedder always did. */
export const DEFAULT_STEPS: Readonly<SentenceEmbeddingSteps> = { pooling: 'mean', normalize: true, maxSeqLength: null };

const MODULE_TYPE = 'sentence_transformers.models.';
const SUPPORTED_MODULES = new Set(['Transformer', 'Pooling', 'Normalize']);

/** Pooling config keys that may be true, and the keys that may carry values without changing the vectors we make. */
const POOLING_MODES: Readonly<Record<string, PoolingMode>> = {
  pooling_mode_mean_tokens: 'mean',
  pooling_mode_cls_token: 'cls',
  pooling_mode_max_tokens: 'max',
};
// include_prompt only matters with a prompt, and prompts are refused below.
const HARMLESS_POOLING_KEYS = new Set(['word_embedding_dimension', 'include_prompt']);
const HARMLESS_SBERT_KEYS = new Set(['max_seq_length', 'do_lower_case', 'prompts', 'default_prompt_name', 'similarity_fn_name', 'model_args', 'tokenizer_args', 'config_args', 'cache_dir', 'backend']);

/** Reads a file of the model directory, or returns null when it does not exist. */
export type ModelFileReader = (name: string) => string | null;

export function localFileReader(dir: string): ModelFileReader {
  return (name) => {
    const file = path.join(dir, ...name.split('/'));
    try {
      return fs.statSync(file).isFile() ? fs.readFileSync(file, 'utf8') : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw new MigrateError('E_MODEL', `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };
}

function parseJson(text: string, name: string, label: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MigrateError('E_MODEL', `${label}: ${name} is not valid JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

function jsonObject(value: unknown, name: string, label: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new MigrateError('E_MODEL', `${label}: ${name} is not a JSON object`);
  return value as Record<string, unknown>;
}

interface ModuleEntry {
  type: string;
  path: string;
}

function readModules(read: ModelFileReader, label: string): ModuleEntry[] | null {
  const text = read('modules.json');
  if (text === null) return null;
  const parsed = parseJson(text, 'modules.json', label);
  if (!Array.isArray(parsed)) throw new MigrateError('E_MODEL', `${label}: modules.json is not a JSON array of modules`);
  return parsed.map((entry: unknown, i) => {
    const module = jsonObject(entry, `modules.json entry ${i}`, label);
    const type = module['type'];
    if (typeof type !== 'string') throw new MigrateError('E_MODEL', `${label}: modules.json entry ${i} has no type`);
    const short = type.startsWith(MODULE_TYPE) ? type.slice(MODULE_TYPE.length) : null;
    if (short === null || !SUPPORTED_MODULES.has(short)) {
      throw new MigrateError(
        'E_MODEL',
        `${label}: modules.json lists ${type}, which this tool cannot run (it runs Transformer, Pooling and Normalize only); its vectors would not match the Python model's — export a model without it`,
      );
    }
    return { type: short, path: typeof module['path'] === 'string' ? module['path'] : '' };
  });
}

function readPooling(read: ModelFileReader, dir: string, label: string): PoolingMode | null {
  const name = dir === '' ? 'config.json' : `${dir.replace(/\/+$/, '')}/config.json`;
  const text = read(name);
  if (text === null) return null;
  const config = jsonObject(parseJson(text, name, label), name, label);
  const modes: PoolingMode[] = [];
  const unsupported: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    const mode = POOLING_MODES[key];
    if (mode !== undefined) {
      if (value === true) modes.push(mode);
      else if (value !== false) unsupported.push(`${key}: ${JSON.stringify(value)}`);
    } else if (!HARMLESS_POOLING_KEYS.has(key) && value !== false && value !== null) {
      unsupported.push(`${key}: ${JSON.stringify(value)}`);
    }
  }
  if (unsupported.length > 0) {
    throw new MigrateError('E_MODEL', `${label}: ${name} asks for ${unsupported.join(', ')}, which this tool does not support (only one of pooling_mode_mean_tokens, pooling_mode_cls_token, pooling_mode_max_tokens)`);
  }
  if (modes.length !== 1) {
    throw new MigrateError('E_MODEL', `${label}: ${name} enables ${modes.length === 0 ? 'no pooling mode' : `${modes.length} pooling modes (concatenated)`}; this tool supports exactly one of pooling_mode_mean_tokens, pooling_mode_cls_token, pooling_mode_max_tokens`);
  }
  return modes[0] as PoolingMode;
}

function readMaxSeqLength(read: ModelFileReader, label: string): number | null {
  const text = read('sentence_bert_config.json');
  if (text === null) return null;
  const config = jsonObject(parseJson(text, 'sentence_bert_config.json', label), 'sentence_bert_config.json', label);
  const unknown = Object.keys(config).filter((k) => !HARMLESS_SBERT_KEYS.has(k));
  if (unknown.length > 0) throw new MigrateError('E_MODEL', `${label}: sentence_bert_config.json sets ${unknown.join(', ')}, which this tool does not know how to honour`);
  if (config['do_lower_case'] === true) throw new MigrateError('E_MODEL', `${label}: sentence_bert_config.json sets do_lower_case, which this tool does not support (lowercasing is the tokenizer's job here)`);
  const prompt = config['default_prompt_name'];
  if (prompt !== undefined && prompt !== null) throw new MigrateError('E_MODEL', `${label}: sentence_bert_config.json sets default_prompt_name ${JSON.stringify(prompt)}; prompts are not supported`);
  const max = config['max_seq_length'];
  if (max === undefined || max === null) return null;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw new MigrateError('E_MODEL', `${label}: sentence_bert_config.json has max_seq_length ${JSON.stringify(max)}, not a positive integer`);
  return max;
}

/**
 * The steps sentence-transformers would take for this model. Without modules.json the pooling
 * is read from 1_Pooling/config.json and the vectors stay normalized (as they always were here);
 * with it, the Pooling module's own path is read and only a Normalize module normalizes.
 */
export function readSentenceEmbeddingSteps(read: ModelFileReader, label: string): SentenceEmbeddingSteps {
  const modules = readModules(read, label);
  let pooling: PoolingMode | null;
  if (modules === null) {
    pooling = readPooling(read, '1_Pooling', label);
  } else {
    const module = modules.find((m) => m.type === 'Pooling');
    if (module === undefined) throw new MigrateError('E_MODEL', `${label}: modules.json has no sentence_transformers.models.Pooling module, so the model makes token vectors, not one vector per text`);
    pooling = readPooling(read, module.path, label);
    if (pooling === null) throw new MigrateError('E_MODEL', `${label}: modules.json names the Pooling module at ${module.path === '' ? '(the model root)' : module.path}, which has no config.json`);
  }
  return {
    pooling: pooling ?? DEFAULT_STEPS.pooling,
    normalize: modules === null ? DEFAULT_STEPS.normalize : modules.some((m) => m.type === 'Normalize'),
    maxSeqLength: readMaxSeqLength(read, label),
  };
}
