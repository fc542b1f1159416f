/**
 * Sets a key read from JSON on a plain object as an ordinary own property. `object[key] = value`
 * is wrong for one key: `"__proto__"` then replaces the object's prototype (or, for a primitive
 * value, does nothing), so the key vanishes. Python's json and JSON.parse keep it; so must we.
 * Only that key takes the slower defineProperty: `constructor`, `prototype` and the rest are
 * ordinary data properties under assignment already.
 */
export function setJsonKey(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  else target[key] = value;
}
