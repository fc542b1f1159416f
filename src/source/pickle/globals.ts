import { pickleError, unsafeFeature, unsafeGlobal } from './fail.js';
import { OP, opName } from './opcodes.js';

/** What an allowed global stands for. None of them is ever called: the VM models each as data. */
export type GlobalKind = 'reconstruct' | 'ndarray' | 'dtype' | 'encode' | 'frombuffer';

/**
 * The complete allow-list, as (module, name) pairs exactly as numpy 1.x / 2.x pickle them.
 * Matching is exact: `numpy` + `core.multiarray._reconstruct` names the same function in Python
 * but is not what numpy writes, so it is refused like any other unknown global.
 */
const ALLOWED: ReadonlyMap<string, GlobalKind> = new Map([
  ['numpy.core.multiarray\n_reconstruct', 'reconstruct'],
  ['numpy._core.multiarray\n_reconstruct', 'reconstruct'],
  ['numpy\nndarray', 'ndarray'],
  ['numpy\ndtype', 'dtype'],
  ['_codecs\nencode', 'encode'],
  ['numpy._core.numeric\n_frombuffer', 'frombuffer'],
  ['numpy.core.numeric\n_frombuffer', 'frombuffer'],
]);

/** Every string that is a module or a name in the allow-list (the scan keeps these in its memo). */
export const ALLOWED_PARTS: ReadonlySet<string> = new Set([...ALLOWED.keys()].flatMap((key) => key.split('\n')));

export interface AllowedGlobal {
  readonly type: 'global';
  readonly kind: GlobalKind;
  /** `numpy._core.multiarray._reconstruct`, for messages. */
  readonly name: string;
}

/** How an error names a global: `posix.system`; long or odd names are shortened and quoted. */
export function qualifiedName(module: string, name: string): string {
  const clip = (s: string): string => (s.length > 80 ? `${s.slice(0, 80)}…` : s);
  const plain = /^[\w.]+$/.test(module) && /^[\w.]+$/.test(name);
  return plain ? `${clip(module)}.${clip(name)}` : `${JSON.stringify(clip(module))}.${JSON.stringify(clip(name))}`;
}

/** Resolves an allowed global, or throws E_UNSAFE_PICKLE naming it. */
export function resolveGlobal(module: string, name: string): AllowedGlobal {
  const kind = ALLOWED.get(`${module}\n${name}`);
  if (kind === undefined) throw unsafeGlobal(qualifiedName(module, name));
  return { type: 'global', kind, name: `${module}.${name}` };
}

/**
 * Why an opcode outside the data subset is refused. `argument` is the EXT code, when known.
 * Opcodes that call into Python (persistent ids, the copyreg extension registry) are unsafe;
 * the rest are valid pickle that numpy never writes.
 */
export function refuseOpcode(op: number, at: number, argument?: number): Error {
  switch (op) {
    case OP.PERSID:
    case OP.BINPERSID:
      return unsafeFeature(`a persistent id (${opName(op)} at offset ${at}), resolved by application code`);
    case OP.EXT1:
    case OP.EXT2:
    case OP.EXT4:
      return unsafeFeature(`extension code ${argument ?? '?'} of the copyreg registry (${opName(op)} at offset ${at}), an unnamed global`);
    case OP.NEWOBJ:
    case OP.NEWOBJ_EX:
    case OP.OBJ:
    case OP.INST:
      return pickleError(`instantiates a class with ${opName(op)} at offset ${at}; numpy arrays are never pickled that way`);
    case OP.EMPTY_SET:
    case OP.ADDITEMS:
    case OP.FROZENSET:
      return pickleError(`builds a set (${opName(op)} at offset ${at}); a vector pickle holds no sets`);
    case OP.NEXT_BUFFER:
    case OP.READONLY_BUFFER:
      return pickleError(`refers to an out-of-band buffer (${opName(op)} at offset ${at}) that a file cannot carry`);
    default:
      return pickleError(`has ${opName(op)} at offset ${at}, which is not a pickle opcode (corrupt file?)`);
  }
}
