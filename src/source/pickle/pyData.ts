/**
 * The plain data a data pickle decodes to (see dataVm.ts): Python's values as tagged records,
 * none of which has behaviour. An allow-listed class is a `PyClass` record, `cls.__new__(cls)` a
 * `PyInstance` whose BUILD state is kept as data; sets are built from their items, never by
 * calling `set`. Objects shared through the memo stay shared (and may form cycles): whoever walks
 * a result bounds its depth.
 */

export type PyValue = null | boolean | number | bigint | string | PyBytes | PyList | PyTuple | PyDict | PySet | PyInstance | PyClass | PySetType;

export interface PyBytes {
  readonly kind: 'bytes';
  readonly bytes: Uint8Array;
}
export interface PyList {
  readonly kind: 'list';
  readonly items: PyValue[];
}
export interface PyTuple {
  readonly kind: 'tuple';
  readonly items: readonly PyValue[];
}
/** Keys in insertion order; `index` finds a hashable key's pair (a repeated key overwrites, as in Python). */
export interface PyDict {
  readonly kind: 'dict';
  readonly pairs: [PyValue, PyValue][];
  readonly index: Map<string, number>;
}
export interface PySet {
  readonly kind: 'set';
  readonly items: PyValue[];
  readonly index: Set<string>;
  readonly frozen: boolean;
}
/** An allow-listed class, by its qualified name (`langchain_core.documents.base.Document`). */
export interface PyClass {
  readonly kind: 'class';
  readonly name: string;
}
/** `builtins.set` / `builtins.frozenset`, as protocols 2 and 3 pickle sets. */
export interface PySetType {
  readonly kind: 'settype';
  readonly frozen: boolean;
}
/** `cls.__new__(cls)` followed by BUILD: the class name and the state, never a live object. */
export interface PyInstance {
  readonly kind: 'instance';
  readonly cls: string;
  state: PyValue | undefined;
}

/** Characters of a tuple's lookup key (see hashKey). */
const MAX_TUPLE_KEY = 4096;

/** A key for dict/set lookup, equal exactly when Python's keys are equal; null when unhashable here. */
export function hashKey(value: PyValue, depth = 0): string | null {
  if (value === null) return 'n';
  switch (typeof value) {
    case 'string':
      return `s${value}`;
    case 'boolean':
      return value ? 'i1' : 'i0';
    case 'bigint':
      return `i${value}`;
    case 'number':
      return Number.isInteger(value) ? `i${BigInt(value)}` : `f${value}`;
    default:
      break;
  }
  if (value.kind === 'bytes') return `b${Buffer.from(value.bytes).toString('latin1')}`;
  // A deep or long tuple is treated as unhashable (kept, never merged with an equal one): its
  // key would cost deep recursion, or a string as long as all its (possibly shared) items.
  if (value.kind === 'tuple' && depth < 16) {
    const parts: string[] = [];
    let length = 0;
    for (const item of value.items) {
      const part = hashKey(item, depth + 1);
      length += part?.length ?? 0;
      if (part === null || length > MAX_TUPLE_KEY) return null;
      parts.push(part);
    }
    return `t${JSON.stringify(parts)}`;
  }
  return null;
}

export function describePy(value: PyValue | undefined): string {
  if (value === undefined || value === null) return 'None';
  switch (typeof value) {
    case 'string':
      return 'a str';
    case 'boolean':
      return 'a bool';
    case 'bigint':
      return 'an int';
    case 'number':
      return Number.isInteger(value) ? 'an int' : 'a float';
    default:
      break;
  }
  switch (value.kind) {
    case 'bytes':
      return 'a bytes object';
    case 'list':
      return 'a list';
    case 'tuple':
      return `a tuple of ${value.items.length}`;
    case 'dict':
      return 'a dict';
    case 'set':
      return value.frozen ? 'a frozenset' : 'a set';
    case 'class':
      return `the class ${value.name}`;
    case 'settype':
      return value.frozen ? 'frozenset' : 'set';
    case 'instance':
      return `a ${value.cls}`;
  }
}

export function dictGet(dict: PyDict, key: string): PyValue | undefined {
  const at = dict.index.get(`s${key}`);
  return at === undefined ? undefined : dict.pairs[at]?.[1];
}

export function newDict(): PyDict {
  return { kind: 'dict', pairs: [], index: new Map() };
}

export function newSet(frozen: boolean): PySet {
  return { kind: 'set', items: [], index: new Set(), frozen };
}

export function setItem(dict: PyDict, key: PyValue, value: PyValue): void {
  const hash = hashKey(key);
  const at = hash === null ? undefined : dict.index.get(hash);
  if (at !== undefined) {
    const pair = dict.pairs[at];
    if (pair !== undefined) pair[1] = value;
    return;
  }
  if (hash !== null) dict.index.set(hash, dict.pairs.length);
  dict.pairs.push([key, value]);
}

export function addItem(set: PySet, item: PyValue): void {
  const hash = hashKey(item);
  if (hash !== null) {
    if (set.index.has(hash)) return;
    set.index.add(hash);
  }
  set.items.push(item);
}

/** Bytes of the lookup keys (see hashKey) that a dict or set keeps for `items` (every `step`-th is a key). */
export function keyWeight(items: readonly PyValue[], step: number): number {
  let weight = 0;
  for (let i = 0; i < items.length; i += step) {
    const key = items[i];
    if (typeof key === 'string') weight += 2 * key.length;
    else if (key !== null && typeof key === 'object' && key.kind === 'bytes') weight += 2 * key.bytes.length;
    else if (key !== null && typeof key === 'object' && key.kind === 'tuple') weight += 2 * MAX_TUPLE_KEY;
  }
  return weight;
}
