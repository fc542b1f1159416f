import fs from 'node:fs';
import path from 'node:path';
import { MigrateError } from '../errors.js';

/**
 * Where an embedding model comes from, decided before transformers.js is involved so that a
 * missing model fails with a message naming the directory that was looked at.
 *
 * - A string naming an existing directory (absolute, or relative to cwd) is a local model.
 * - Otherwise a string shaped like a hub id (`owner/name` or `name`) is a hub model, looked up
 *   in the cache directory and downloaded only when remote loading is allowed.
 * - Anything else (`./models/x`, `/opt/models/x`, `a/b/c` that does not exist) is a directory
 *   the user meant but that is not there: E_CONFIG.
 */
export type ModelSource =
  | { kind: 'local'; /** absolute path */ dir: string; /** as the user gave it, normalized */ id: string }
  | { kind: 'hub'; id: string };

/** The hub's repo id rule, as transformers.js applies it (utils/hub/constants.js, isValidHfModelId). */
const HUB_ID = /^(\b[\w\-.]+\b\/)?\b[\w\-.]{1,96}\b$/;

export function isHubModelId(value: string): boolean {
  return HUB_ID.test(value) && !value.includes('..') && !value.includes('--') && !value.endsWith('.git') && !value.endsWith('.ipynb');
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

export function resolveModelSource(model: string, cwd: string): ModelSource {
  const given = model.trim();
  if (given === '') throw new MigrateError('E_CONFIG', 'no embedding model given: pass --model <hub id or local directory>');
  const dir = path.resolve(cwd, given);
  const stat = statOrNull(dir);
  if (stat?.isDirectory()) {
    const id = path.normalize(given).replace(/[\\/]+$/, '') || given;
    return { kind: 'local', dir, id };
  }
  if (stat !== null) {
    throw new MigrateError('E_CONFIG', `model ${given} is a file (${dir}); pass the model's directory (the one holding config.json and onnx/) or a hub id`);
  }
  const looksLikePath = path.isAbsolute(given) || given.startsWith('.') || given.includes('\\') || given.endsWith('/');
  if (looksLikePath || !isHubModelId(given)) {
    throw new MigrateError('E_CONFIG', `model directory ${dir} does not exist (relative paths are resolved against ${cwd}), and "${given}" is not a hub model id`);
  }
  return { kind: 'hub', id: given };
}

/** File-name suffixes transformers.js uses per dtype (utils/dtypes.js DEFAULT_DTYPE_SUFFIX_MAPPING). */
export const DTYPE_SUFFIX = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
} as const;

export type ModelDtype = keyof typeof DTYPE_SUFFIX;

function readJsonObject(file: string, label: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MigrateError('E_MODEL', `${label}: ${file} is not readable JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new MigrateError('E_MODEL', `${label}: ${file} is not a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Checks that `dir` holds what the feature-extraction pipeline loads: config.json, tokenizer.json,
 * tokenizer_config.json and the ONNX file for the requested dtype under onnx/. Returns the name
 * of that ONNX file. Throws E_MODEL naming the first missing piece.
 */
export function checkModelDirectory(dir: string, label: string, dtype: ModelDtype | undefined): string {
  const config = readJsonObjectIfPresent(path.join(dir, 'config.json'), label);
  for (const name of ['tokenizer.json', 'tokenizer_config.json']) {
    if (!statOrNull(path.join(dir, name))?.isFile()) {
      throw new MigrateError('E_MODEL', `${label}: ${dir} has no ${name}; a feature-extraction model needs config.json, tokenizer.json, tokenizer_config.json and onnx/model.onnx`);
    }
  }
  const onnxDir = path.join(dir, 'onnx');
  const available = statOrNull(onnxDir)?.isDirectory() ? fs.readdirSync(onnxDir).filter((f) => f.endsWith('.onnx')).sort() : [];
  if (available.length === 0) {
    throw new MigrateError('E_MODEL', `${label}: ${dir} has no ONNX weights (expected onnx/model.onnx); export the model to ONNX (e.g. with optimum) or pick another model`);
  }
  // The dtype the library will pick: ours, else the one the model's config asks for, else fp32 (CPU default).
  const jsConfig = config['transformers.js_config'];
  const configDtype = jsConfig !== null && typeof jsConfig === 'object' ? (jsConfig as Record<string, unknown>)['dtype'] : undefined;
  const effective = dtype ?? (typeof configDtype === 'string' ? configDtype : 'fp32');
  if (!(effective in DTYPE_SUFFIX)) return available[0] as string; // per-file or 'auto' dtypes: let the library decide
  const expected = `model${DTYPE_SUFFIX[effective as ModelDtype]}.onnx`;
  if (!available.includes(expected)) {
    throw new MigrateError(
      'E_MODEL',
      `${label}: ${dir} has no onnx/${expected} for dtype ${effective}; it has ${available.map((f) => `onnx/${f}`).join(', ')} — choose the matching dtype`,
    );
  }
  return expected;
}

function readJsonObjectIfPresent(file: string, label: string): Record<string, unknown> {
  if (!statOrNull(file)?.isFile()) {
    throw new MigrateError('E_MODEL', `${label}: ${path.dirname(file)} has no config.json, so it is not a transformers model directory`);
  }
  return readJsonObject(file, label);
}

/**
 * Where transformers.js's file cache keeps a hub model (revision main): `<cacheDir>/<owner>/<name>/`,
 * a copy of the repo layout. Returns the first candidate that holds config.json, or null.
 */
export function findCachedHubModel(id: string, candidates: readonly string[]): string | null {
  for (const root of candidates) {
    const dir = path.join(root, ...id.split('/'));
    if (statOrNull(path.join(dir, 'config.json'))?.isFile()) return dir;
  }
  return null;
}
