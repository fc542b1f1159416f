/**
 * `--layout`: a path pattern relative to the root that says which directories are stores and who
 * owns them, e.g. `{user}/{collection}`, `{user}/faiss_index`, `tenants/{user}/storage`.
 * Placeholders are whole path segments; a pattern can never name anything outside the root.
 */
import { MigrateError } from '../errors.js';

export type LayoutSegment = { kind: 'literal'; name: string } | { kind: 'user' } | { kind: 'collection' };

export interface Layout {
  pattern: string;
  segments: LayoutSegment[];
}

function refuse(pattern: string, why: string): MigrateError {
  return new MigrateError('E_USAGE', `--layout ${JSON.stringify(pattern)} ${why} (a layout is a path relative to the root, e.g. '{user}/{collection}' or 'tenants/{user}/storage')`);
}

export function parseLayout(pattern: string): Layout {
  if (pattern.startsWith('/') || /^[A-Za-z]:/.test(pattern)) throw refuse(pattern, 'is absolute: it would leave the root');
  const parts = pattern.split(/[/\\]/);
  const segments: LayoutSegment[] = [];
  for (const part of parts) {
    if (part === '..') throw refuse(pattern, 'has a ".." segment: it would leave the root');
    if (part === '' || part === '.') throw refuse(pattern, 'has an empty or "." segment');
    if (part === '{user}' || part === '{collection}') {
      const kind = part === '{user}' ? 'user' : 'collection';
      if (segments.some((s) => s.kind === kind)) throw refuse(pattern, `names ${part} twice`);
      segments.push({ kind });
      continue;
    }
    if (/[{}]/.test(part)) throw refuse(pattern, `has a segment "${part}": placeholders are {user} and {collection}, each a whole segment`);
    segments.push({ kind: 'literal', name: part });
  }
  return { pattern, segments };
}

/**
 * A directory or format collection name as part of a collection: characters other than letters,
 * digits, `.`, `-` and `_` become `_` (runs collapsed, none at the ends), as the application
 * sanitized its ids. Null when nothing is left.
 */
export function sanitizeName(name: string): string | null {
  const out = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/_+/g, '_').replace(/^[_.]+|[_.]+$/g, '');
  return out === '' ? null : out;
}
