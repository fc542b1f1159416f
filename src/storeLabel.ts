/**
 * How a store is named in messages, progress lines and keys: `user/collection`. Top level because
 * every layer names stores (source errors, sink locks, the CLI's lines) and none owns the others.
 */
export function storeLabel(key: { readonly userId: string; readonly collection: string }): string {
  return `${key.userId}/${key.collection}`;
}
