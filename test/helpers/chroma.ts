import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FormatReader, FormatRecord } from '../../src/source/formats/types.js';
import { REPO } from './paths.js';

/** What scripts/read_chroma.py (Python's sqlite3/struct/pickle, not this project's code) reads from a store. */
export interface PythonRecord {
  id: string;
  text: string | null;
  metadata: Record<string, unknown>;
  vector: string | null;
}
export type PythonReading = Record<string, { records: PythonRecord[]; live_vectors: number; space: string }>;

export function readWithPython(dir: string): PythonReading {
  return JSON.parse(execFileSync('python3', [join(REPO, 'scripts/read_chroma.py'), dir], { encoding: 'utf8', maxBuffer: 256 << 20 })) as PythonReading;
}

export function vectorHex(v: Float32Array | null): string | null {
  if (v === null) return null;
  const bytes = new Uint8Array(v.length * 4);
  const view = new DataView(bytes.buffer);
  v.forEach((x, i) => view.setFloat32(i * 4, x, true));
  return Buffer.from(bytes).toString('hex');
}

export async function readAll(reader: FormatReader, dir: string, collection: string, withVectors: boolean): Promise<FormatRecord[]> {
  const out: FormatRecord[] = [];
  for await (const r of reader.records(dir, collection, { withVectors })) out.push(r);
  return out;
}

/** Every file under `dir` with its sha256 and mtime, to prove a read changed nothing. */
export function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p] = `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${statSync(p).mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}
