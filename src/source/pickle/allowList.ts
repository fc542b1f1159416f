/**
 * What a format declares to read a data pickle (see dataVm.ts): its allow-list, in which every entry is
 * a plain-data constructor the machine interprets itself; nothing named is ever imported or called.
 *
 *   'instance'    a class: NEWOBJ makes a PyInstance, BUILD records its state as data
 *   'set' / 'frozenset'   Python's set types, which protocols 2 and 3 pickle as REDUCE(set, (list,))
 */
export type AllowedConstructor = 'instance' | 'set' | 'frozenset';

/** `module.name` (as the pickle spells it) -> what it constructs. Matching is exact. */
export type AllowList = ReadonlyMap<string, AllowedConstructor>;

/** `builtins.set` and `builtins.frozenset`, under their Python 3 and Python 2 module names. */
export const SET_CONSTRUCTORS: AllowList = new Map([
  ['builtins.set', 'set'],
  ['builtins.frozenset', 'frozenset'],
  ['__builtin__.set', 'set'],
  ['__builtin__.frozenset', 'frozenset'],
]);

/** An allow-list of classes, each made by NEWOBJ + BUILD, plus `extra` entries. */
export function allowInstances(classes: Iterable<string>, extra: AllowList = new Map()): AllowList {
  return new Map([...[...classes].map((name): [string, AllowedConstructor] => [name, 'instance']), ...extra]);
}

/** What a format declares to read its pickle. */
export interface DataPickleProfile {
  /** How errors name the file: `index.pkl (/path/to/index.pkl)`. */
  readonly file: string;
  /** What the file is, in errors: `a LangChain docstore pickle`. */
  readonly kind: string;
  /** The globals the pickle may name, and what each constructs. */
  readonly allow: AllowList;
  /** Approximate bytes of decoded values the pickle may make us hold (see WEIGHT in dataVm.ts). */
  readonly maxHeldBytes: number;
  /** Said after refusing a global: what a genuine file names, and what else it means. */
  readonly expected: string;
  /** Said after a malformed-file error: what can no longer be read, and how to recover. */
  readonly remedy: string;
}
