import { createHash } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';

/** Fixed namespace for row ids: changing it would change every id and break idempotent re-runs. */
export const ROW_ID_NAMESPACE = '6f1c2f4e-7d0a-5b8e-9c3d-2a4b6c8d0e1f';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Deterministic row id: the same store entry with the same text always gets the same id, so a
 * re-run replaces rows instead of duplicating them. NUL separates the parts because it cannot
 * occur in a directory name.
 */
export function rowId(userId: string, collection: string, index: number, contentSha256: string): string {
  return uuidv5(`${userId}\u0000${collection}\u0000${index}\u0000${contentSha256}`, ROW_ID_NAMESPACE);
}

/**
 * Row id of a record of a third-party format, from the format's own id (docstore id, node id,
 * Chroma embedding id): stable across re-runs even when the reader's order changes.
 */
export function sourceRowId(userId: string, collection: string, sourceId: string): string {
  return uuidv5(`${userId}\u0000${collection}\u0000${sourceId}`, ROW_ID_NAMESPACE);
}

/** The id of a pending row: from the format's id when it has one, else today's (index and text hash). */
export function pendingRowId(userId: string, collection: string, p: { index: number; contentSha256: string; sourceId?: string }): string {
  return p.sourceId === undefined ? rowId(userId, collection, p.index, p.contentSha256) : sourceRowId(userId, collection, p.sourceId);
}
