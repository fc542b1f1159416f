import { setJsonKey } from '../source/jsonKey.js';
import type { MetadataEntry } from '../source/types.js';

/** Keys the application used for the text, newest first (older entries used the LangChain names). */
export const TEXT_KEYS = ['text', 'page_content', 'content'] as const;

export type Extracted =
  | { kind: 'text'; text: string; metadata: Record<string, unknown>; warnings: string[] }
  | { kind: 'skip'; reason: string };

const NUL = /\u0000/g;

/**
 * Turns one metadata.json entry into the text to embed and the metadata to keep.
 * The text is kept byte-for-byte except for what PostgreSQL cannot store: U+0000 (text and jsonb
 * both refuse it) and unpaired UTF-16 surrogates (not encodable as UTF-8). Each change is a warning.
 */
export function extractEntry(entry: MetadataEntry, index: number): Extracted {
  const key = TEXT_KEYS.find((k) => typeof entry[k] === 'string');
  if (key === undefined) {
    const present = TEXT_KEYS.filter((k) => k in entry);
    const reason =
      present.length === 0
        ? `entry ${index} has no text (none of ${TEXT_KEYS.join(', ')})`
        : `entry ${index} has a non-string ${present.join('/')}`;
    return { kind: 'skip', reason };
  }
  const warnings: string[] = [];
  // A text key that comes first but holds no string is kept in the metadata; taking the text from
  // a later key instead is what the application's newest-first order implies, but never silently.
  const passedOver = TEXT_KEYS.slice(0, TEXT_KEYS.indexOf(key)).filter((k) => Object.hasOwn(entry, k));
  if (passedOver.length > 0) {
    const found = passedOver.map((k) => `${k} is ${jsonType(entry[k])}`).join(', ');
    warnings.push(`entry ${index}: ${found}, not a string; took the text from ${key} and kept ${passedOver.join(' and ')} in the metadata`);
  }
  const text = cleanString(entry[key] as string, `entry ${index} text`, warnings);
  if (text.length === 0) {
    return { kind: 'skip', reason: `entry ${index} has an empty ${key}` };
  }
  const { [key]: _text, ...rest } = entry;
  const metadata = cleanJson(rest, `entry ${index} metadata`, warnings) as Record<string, unknown>;
  return { kind: 'text', text, metadata, warnings };
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function cleanString(value: string, where: string, warnings: string[]): string {
  let out = value;
  const nuls = out.match(NUL)?.length ?? 0;
  if (nuls > 0) {
    out = out.replace(NUL, '');
    warnings.push(`${where}: removed ${nuls} U+0000 character${nuls === 1 ? '' : 's'} (PostgreSQL cannot store them)`);
  }
  if (!out.isWellFormed()) {
    out = out.toWellFormed();
    warnings.push(`${where}: replaced unpaired UTF-16 surrogates with U+FFFD (not representable in UTF-8)`);
  }
  return out;
}

function cleanJson(value: unknown, where: string, warnings: string[]): unknown {
  if (typeof value === 'string') return cleanString(value, where, warnings);
  if (Array.isArray(value)) return value.map((v) => cleanJson(v, where, warnings));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      setJsonKey(out, cleanString(k, where, warnings), cleanJson(v, where, warnings));
    }
    return out;
  }
  return value;
}
