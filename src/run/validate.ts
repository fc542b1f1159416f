import path from 'node:path';
import type { MigrateConfig } from '../config.js';
import { MigrateError } from '../errors.js';
import { discoverSource } from '../source/discoverSource.js';
import { KeyRing, keyCandidates } from '../source/keyRing.js';
import type { FernetKey } from '../source/keys.js';
import { inspectStore, storeSourceSha256 } from '../source/store.js';
import type { StoreLocation } from '../source/types.js';
import type { TableReader } from '../source/tableTypes.js';
import { storeLabel } from '../storeLabel.js';
import type { StoreReport } from './report.js';
import { emptyStoreReport, failedReport } from './storeReports.js';

/** A store that passed validation: what a load needs to read it again. */
export interface PlannedStore {
  readonly store: StoreLocation;
  readonly key: FernetKey;
  /** Its report after validation (counts, checksum, key label, time spent). */
  readonly report: Readonly<StoreReport>;
}

export interface Discovery {
  stores: StoreLocation[];
  /** Directories that are not stores (reported as skipped). */
  skipped: StoreReport[];
  /** Stores seen but unreadable: they go through filtering and --retry-failed like the others, then fail in validate. */
  refused: Map<StoreLocation, MigrateError>;
}

export async function discover(config: MigrateConfig, table: TableReader | null = null): Promise<Discovery> {
  const stores: StoreLocation[] = [];
  const skipped: StoreReport[] = [];
  const refused = new Map<StoreLocation, MigrateError>();
  for await (const event of discoverSource(config, table)) {
    if (event.kind === 'store' || event.kind === 'unreadable') {
      stores.push(event.store);
      if (event.kind === 'unreadable') refused.set(event.store, new MigrateError(event.code, `${storeLabel(event.store)}: ${event.reason}`));
      continue;
    }
    const rel = path.relative(config.root, event.path) || event.path;
    const [userPart = rel, collectionPart = '-'] = rel.split(path.sep);
    const location = { userId: userPart, collection: collectionPart.replace(/^vector_store_/, ''), dir: event.path, vectorsPath: null, metadataPath: null };
    skipped.push({ ...emptyStoreReport(location), path: rel, status: 'skipped', warnings: [event.reason], error: { code: event.code, message: event.reason } });
  }
  return { stores, skipped, refused };
}

/**
 * Validates every store before anything is written: the whole pickle is decoded, the metadata
 * decrypted and parsed, the counts compared. Only stores that pass become candidates; `reports`
 * holds every store's report in order, failed ones included.
 */
export async function validate(
  config: MigrateConfig,
  stores: readonly StoreLocation[],
  refused: ReadonlyMap<StoreLocation, MigrateError>,
): Promise<{ candidates: PlannedStore[]; reports: StoreReport[] }> {
  const keys = new KeyRing(keyCandidates(config.masterKeys, config.tryDefaultKey));
  const candidates: PlannedStore[] = [];
  const reports: StoreReport[] = [];
  for (const store of stores) {
    const started = performance.now();
    let report = emptyStoreReport(store);
    let key: FernetKey | null = null;
    try {
      const refusal = refused.get(store);
      if (refusal !== undefined) throw refusal;
      const chosen = await keys.forStore(store);
      report = { ...report, sourceSha256: await storeSourceSha256(store) };
      const inspection = await inspectStore(store, chosen.key);
      report = { ...report, vectors: inspection.manifest.vectors, entries: inspection.manifest.entries, storedDimensions: inspection.manifest.dimensions };
      if (inspection.error !== null) throw inspection.error;
      report = { ...report, key: chosen.label };
      key = chosen.key;
    } catch (err) {
      report = failedReport(report, err);
    }
    report = { ...report, durationMs: Math.round(performance.now() - started) };
    reports.push(report);
    if (key !== null) candidates.push({ store, key, report });
  }
  return { candidates, reports };
}
