import { pickleError } from './fail.js';

/**
 * Which memo keys a pickle has defined, without keeping the values. MEMOIZE stores at
 * `len(memo)`, so both passes must know how many distinct keys exist. Python's pickler numbers
 * keys 0, 1, 2, ... so they form a dense prefix that costs one counter; only keys written out of
 * order (hand-made pickles) are kept in a set, and that set is bounded.
 */
export class MemoKeys {
  private dense = 0;
  private readonly sparse = new Set<number>();

  constructor(private readonly maxSparse: number) {}

  /** `len(memo)` in Python's unpickler. */
  get size(): number {
    return this.dense + this.sparse.size;
  }

  has(key: number): boolean {
    return key < this.dense || this.sparse.has(key);
  }

  add(key: number): void {
    if (this.has(key)) return;
    if (key === this.dense) {
      this.dense++;
      while (this.sparse.delete(this.dense)) this.dense++;
      return;
    }
    if (this.sparse.size >= this.maxSparse) {
      throw pickleError(`writes more than ${this.maxSparse} out-of-order memo slots (limit maxMemoEntries); Python's pickler never does`);
    }
    this.sparse.add(key);
  }
}

/** A memo index from a PUT/GET argument; Python accepts any int, we accept what a file can use. */
export function memoKey(value: number | bigint, at: number): number {
  if (typeof value === 'bigint' || !Number.isSafeInteger(value) || value < 0) {
    throw pickleError(`uses the invalid memo index ${String(value)} at offset ${at}`);
  }
  return value;
}

/**
 * The memo of a pickle decoded whole (dataVm.ts), values kept. Python's pickler numbers slots
 * 0, 1, 2, ... so they live in an array; slots written out of order (hand-made pickles) in a map.
 * A docstore memoizes almost every value, and one Map entry per value cost a third of the
 * decoding time.
 */
export class MemoValues<T extends NonNullable<unknown> | null> {
  private readonly dense: T[] = [];
  private readonly sparse = new Map<number, T>();

  /** `len(memo)`, where MEMOIZE stores. */
  get size(): number {
    return this.dense.length + this.sparse.size;
  }

  get(key: number): T | undefined {
    return key < this.dense.length ? this.dense[key] : this.sparse.get(key);
  }

  set(key: number, value: T): void {
    if (key < this.dense.length) {
      this.dense[key] = value;
      return;
    }
    if (key > this.dense.length) {
      this.sparse.set(key, value);
      return;
    }
    this.dense.push(value);
    // A slot written early, out of order, is now part of the dense prefix.
    for (let next = this.sparse.get(this.dense.length); next !== undefined; next = this.sparse.get(this.dense.length)) {
      this.sparse.delete(this.dense.length);
      this.dense.push(next);
    }
  }
}
