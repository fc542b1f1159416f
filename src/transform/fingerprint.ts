/**
 * A stored fingerprint (what `fingerprintOf` in vectorize.ts writes on every row) read back as its fields; null for none, or for text that is not a JSON object
 * (rows of older versions, or written by hand): callers treat that as "nothing recorded".
 */
export function readFingerprint(fingerprint: string | null): Record<string, unknown> | null {
  if (fingerprint === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(fingerprint);
  } catch {
    return null;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
}
