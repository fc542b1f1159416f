import { MigrateError } from '../errors.js';
import { discoverStores } from './discover.js';
import { discoverFormatStores, hasFormatStores, type SourceFormat } from './formatDiscover.js';
import type { Layout } from './layout.js';
import { discoverTableStores } from './tableStore.js';
import type { TableReader } from './tableTypes.js';
import type { DiscoveryEvent } from './types.js';

/** --source, --user and --layout as the configuration holds them. */
export interface SourceConfig {
  format: SourceFormat;
  owner: string | null;
  layout: Layout | null;
}

/**
 * The stores of a run, whatever their format. Without --user or --layout, `auto` and `simple` are
 * today's per-user layout exactly (user_data/{user}/vector_store_{collection}); a root that holds
 * only other formats then asks for an owner instead of finding nothing. With `table` (a run
 * reading --from-table), the stores are the table's instead of any directory's.
 */
export async function* discoverSource(config: { root: string; users: readonly string[] | null; collections?: readonly string[] | null; source: SourceConfig }, table: TableReader | null = null): AsyncGenerator<DiscoveryEvent> {
  if (table !== null) {
    yield* discoverTableStores(table, config.users, config.collections ?? null);
    return;
  }
  const { format, owner, layout } = config.source;
  const users = config.users === null ? {} : { users: config.users };
  if (owner === null && layout === null && (format === 'auto' || format === 'simple')) {
    let found = false;
    for await (const event of discoverStores(config.root, users)) {
      if (event.kind !== 'skipped') found = true;
      yield event;
    }
    if (!found && format === 'auto' && (await hasFormatStores(config.root))) {
      throw new MigrateError('E_USAGE', `${config.root} holds FAISS, LlamaIndex or Chroma stores, which are not per user: say who owns them with --user U, or map directories to users with --layout '{user}/...'`);
    }
    return;
  }
  yield* discoverFormatStores(config.root, { format, owner, layout, ...users });
}
