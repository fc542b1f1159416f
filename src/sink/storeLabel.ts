import type { StoreKey } from './types.js';

/** How a store is named in messages and keys: `user/collection`. */
export function storeLabel(key: StoreKey): string {
  return `${key.userId}/${key.collection}`;
}
