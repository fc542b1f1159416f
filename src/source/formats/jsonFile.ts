/**
 * Reads a whole JSON file of bounded size (LlamaIndex's docstore.json, index_store.json): these are
 * looked up by node id while the vector store streams, so they are held in memory, and a size
 * check comes before the read.
 */
import { readFile, stat } from 'node:fs/promises';
import { MigrateError } from '../../errors.js';

/**
 * 256 MiB. JSON.parse needs the whole text as one string (V8 caps strings at ~512 M characters)
 * and the parsed objects take about as much again; a docstore this large holds ~250 MB of text.
 */
export const MAX_JSON_FILE_BYTES = 256 * 1024 * 1024;

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export async function readBoundedJson(path: string, label: string, maxBytes = MAX_JSON_FILE_BYTES): Promise<unknown> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    throw new MigrateError('E_FORMAT', `${label} cannot be read: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (size > maxBytes) {
    throw new MigrateError(
      'E_FORMAT',
      `${label} is ${size} bytes, over the ${maxBytes}-byte limit for a file read whole; split the index into several persist directories`,
    );
  }
  const bytes = await readFile(path);
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch (error) {
    throw new MigrateError('E_FORMAT', `${label} is not valid UTF-8; Python's json could not have written it`, { cause: error });
  }
  return parseJsonText(text, label);
}

/** JSON.parse with a coded error (also for JSON held in a string, as LlamaIndex nests it). */
export function parseJsonText(text: string, label: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // No cause: a SyntaxError is the file's fault here, not an engine failure to report.
    throw new MigrateError('E_FORMAT', `${label} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
