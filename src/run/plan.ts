import { randomUUID } from 'node:crypto';
import type { MigrateConfig } from '../config.js';
import { MigrateError } from '../errors.js';
import type { LedgerRepository } from '../sink/ledgerRepository.js';
import type { PcaModelRepository } from '../sink/pcaModelRepository.js';
import type { ReadRepository } from '../sink/readRepository.js';
import type { SchemaRepository } from '../sink/schemaRepository.js';
import type { DatabaseInfo, StoreOutcome as LedgerOutcome, TargetSpec } from '../sink/types.js';
import type { Embedder } from '../transform/embedder.js';
import { checkTableMatches, planReduction } from '../transform/reduction.js';
import { keptSpace, modelSpace, type EmbeddingSpace } from '../transform/embeddingSpace.js';
import { deduplicating, keepingStored, reembedding, VectorCache, type Vectorizer } from '../transform/vectorize.js';
import { checkTableDtype } from './dtypeGuard.js';
import type { RunObserver } from './events.js';
import { selectFailed } from './ledgerOptions.js';
import { storeLabel } from '../storeLabel.js';
import type { ReductionReport, StoreReport } from './report.js';
import { keptDimensions, reductionStep, type PcaStep, type RunVectors } from './reductionStep.js';
import { failedReport, missingRetryReport } from './storeReports.js';
import { discover, validate, type PlannedStore } from './validate.js';
import type { TableReader } from '../source/tableTypes.js';

export type { PlannedStore } from './validate.js';
export type { PcaStep } from './reductionStep.js';

/** What planning reads from the database; nothing is written before the plan is complete. */
export interface PlanningReads {
  ledger: Pick<LedgerRepository, 'latestOutcomes'>;
  pcaModels: Pick<PcaModelRepository, 'active'>;
  schema: Pick<SchemaRepository, 'inspect'>;
  reads: Pick<ReadRepository, 'applicationRows' | 'listStoreKeys' | 'embeddingFingerprints'>;
}

export interface PlanningDependencies {
  sink: PlanningReads;
  /** The embedding model; null in keep mode, which needs none. */
  embedder: Embedder | null;
  observe?: RunObserver;
  now?: () => Date;
  /** The open source table of a --from-table run (its stores instead of the root's). */
  table?: TableReader | null;
}

/** Said once per table run: --backup copies source files, and a table source has none to copy. */
export const TABLE_BACKUP_NOTE = 'the source is a table, which this run only reads: there is nothing to back up (rollback restores the target table)';

/**
 * Everything a run decided before writing anything: which stores to load (validated), into
 * which table and space, and how. Built once by `planMigration`; each store is then executed
 * against it (`executeStore`), and the report is a function of it and the outcomes.
 */
export interface MigrationPlan {
  readonly runId: string;
  readonly startedAt: Date;
  readonly config: MigrateConfig;
  readonly target: TargetSpec;
  /** The database and the table as they were found. */
  readonly database: DatabaseInfo;
  /** Stores that passed validation, in discovery order: the ones to load. */
  readonly stores: readonly PlannedStore[];
  /** Stores that failed validation (or are of another dimension in keep mode). */
  readonly failed: readonly StoreReport[];
  /** Directories that are not stores, and --retry-failed stores no longer found. */
  readonly skipped: readonly StoreReport[];
  readonly reduction: ReductionReport;
  readonly pca: PcaStep;
  /** The vectorizer before a PCA projection (whose model id is known once the model is saved). */
  readonly vectorizer: Vectorizer;
  /**
   * The run's embedding space, computed once here, before a PCA projection like `vectorizer`
   * (reductionStep.ts `projectedWith` binds the saved model): what rows and the ledger record.
   */
  readonly space: EmbeddingSpace;
  /** --refit-pca: every store is rewritten in one transaction with the new model. */
  readonly refit: boolean;
  /** Re-embedding reuses stored vectors of unchanged texts (not in keep mode, not in a refit). */
  readonly reuseStored: boolean;
  /**
   * A new table, or one without a valid HNSW index, is loaded without it and indexed once at the
   * end (also when stores failed): far faster than growing the graph row by row.
   */
  readonly deferIndex: boolean;
  /** Latest ledger outcome per store label, for the unchanged check. */
  readonly latest: ReadonlyMap<string, LedgerOutcome>;
  readonly warnings: readonly string[];
}

/** --partitions and --rls as TargetSpec fields (ensureSchema creates/secures the table accordingly). */
function layoutOf(config: MigrateConfig): Pick<TargetSpec, 'partitions' | 'rls'> {
  return { ...(config.partitions === null ? {} : { partitions: config.partitions }), ...(config.rls ? { rls: true } : {}) };
}

/**
 * A refit rewrites every row of the table into the new space, so the run must cover every store
 * the table holds: rows it could not re-project would be left in the old space. Rows applications
 * wrote have no source vector to re-project, and the tool never deletes or changes them: refused.
 */
async function checkRefitCovers(sink: PlanningReads, target: TargetSpec, candidates: readonly PlannedStore[]): Promise<void> {
  const written = await sink.reads.applicationRows(target);
  if (written.length > 0) {
    const shown = written.slice(0, 10).map((s) => `${storeLabel(s)}: ${s.rows}`).join(', ');
    throw new MigrateError(
      'E_USAGE',
      `--refit-pca re-projects every row of ${target.table} from its source vector, but ${written.reduce((n, s) => n + s.rows, 0)} rows were written by applications (${shown}${written.length > 10 ? ', …' : ''}) and have none; the tool never changes them. Re-embed the whole table from its texts instead (reembed --model M --reduce pca), or load into another --table`,
    );
  }
  const covered = new Set(candidates.map((c) => storeLabel(c.store)));
  const missing = (await sink.reads.listStoreKeys(target)).filter((k) => !covered.has(storeLabel(k)));
  if (missing.length > 0) {
    const shown = missing.slice(0, 10).map(storeLabel).join(', ');
    throw new MigrateError(
      'E_USAGE',
      `--refit-pca rewrites every row of ${target.table}, but this run cannot re-project ${missing.length} of its stores (${shown}${missing.length > 10 ? ', …' : ''}): they are not among the valid stores of this run (filtered out, failing, or gone from the source)`,
    );
  }
}

/**
 * Discovers and validates the stores, reads what the table already holds, and fits (or reuses)
 * the reduction. Only reads: usage problems throw (MigrateError) before anything is written; a
 * store's problems go into its report. The PCA projector it creates is the caller's to dispose.
 */
export async function planMigration(config: MigrateConfig, deps: PlanningDependencies): Promise<MigrationPlan> {
  const observe = deps.observe ?? (() => {});
  const startedAt = (deps.now ?? (() => new Date()))();
  const runId = randomUUID();
  const { sink, embedder } = deps;
  if (config.embeddings === 'reembed' && embedder === null) throw new MigrateError('E_CONFIG', 're-embedding needs a model; pass --model or use --embeddings keep');

  const discovered = await discover(config, deps.table ?? null);
  const filtered = config.collections === null ? discovered.stores : discovered.stores.filter((s) => config.collections?.includes(s.collection));
  const latestOutcomes = await sink.ledger.latestOutcomes({ table: config.table });
  const retry = config.retryFailed ? selectFailed(filtered, latestOutcomes) : { selected: filtered, missing: [] };
  const skipped = [...discovered.skipped, ...retry.missing.map(missingRetryReport)];
  observe({ type: 'validating', stores: retry.selected.length });
  const { candidates: validated, reports } = await validate(config, retry.selected, discovered.refused);

  const active = await sink.pcaModels.active({ table: config.table });
  // With --partitions, a table of another layout is refused here, before anything is read or written.
  const database = await sink.schema.inspect({ table: config.table, dimensions: 1, ...layoutOf(config) });
  const keep = config.embeddings === 'keep' || embedder === null;
  const sourceDimensions = keep
    ? keptDimensions(validated.map((c) => c.report), reports, active, database, config.reduction.refit, config.reduction.mode === 'truncate')
    : embedder.dimensions;
  const reduction = planReduction({
    sourceDimensions,
    mode: config.reduction.mode,
    dimensions: config.reduction.dimensions,
    pgvectorVersion: database.pgvectorVersion,
    activePca: active,
    refit: config.reduction.refit,
  });
  // PCA projections keep L2 distances, not angles: such tables are indexed and searched by L2.
  const target: TargetSpec = { table: config.table, dimensions: reduction.dimensions, vectorType: reduction.vectorType, distance: reduction.method === 'pca' ? 'l2' : 'cosine', ...layoutOf(config) };
  checkTableMatches(reduction, config.table, { exists: database.tableExists, dimensions: database.tableDimensions, vectorType: database.tableVectorType });
  if (!keep) await checkTableDtype(sink.reads, config.table, embedder.identity);

  // Keep mode: a store of another dimension cannot join this run's space.
  const otherDimension = (c: PlannedStore) => config.embeddings === 'keep' && c.report.storedDimensions !== null && c.report.storedDimensions !== sourceDimensions;
  const stores = validated.filter((c) => !otherDimension(c));
  const mismatched = new Map(
    validated
      .filter(otherDimension)
      .map((c) => [c.report, failedReport(c.report, new MigrateError('E_DIM_MISMATCH', `${storeLabel(c.store)} holds ${c.report.storedDimensions}-dimension vectors; this run loads ${sourceDimensions}-dimension vectors (run it separately, into another --table)`))]),
  );
  const failed = reports.map((r) => mismatched.get(r) ?? r).filter((r) => r.status === 'failed');
  const refit = config.reduction.refit && reduction.method === 'pca';
  if (refit) await checkRefitCovers(sink, target, stores);

  const base: RunVectors = keep
    ? { vectorizer: keepingStored(config.keptLabel, sourceDimensions), space: keptSpace(config.keptLabel, sourceDimensions, reduction.vectorType) }
    : { vectorizer: deduplicating(reembedding(embedder, { batchSize: config.batchSize }), VectorCache.forBudget(embedder.dimensions)), space: modelSpace(embedder.identity, reduction.vectorType) };
  const step = await reductionStep({ config, runId, embedder, observe }, reduction, sourceDimensions, active, base, stores.map((c) => ({ store: c.store, key: c.key })));
  // Frozen: execution reads the plan, never changes it (a worker may hold it for many stores).
  return Object.freeze({
    runId,
    startedAt,
    config,
    target,
    database,
    stores: Object.freeze(stores),
    failed: Object.freeze(failed),
    skipped: Object.freeze(skipped),
    reduction: step.reduction,
    pca: step.pca,
    vectorizer: step.vectors.vectorizer,
    space: step.vectors.space,
    refit,
    // Recomputing is what reuse saves; kept vectors cost nothing to load and may differ for the same text.
    reuseStored: config.embeddings === 'reembed' && !refit,
    deferIndex: !config.dryRun && database.searchIndex !== 'valid',
    latest: new Map(latestOutcomes.map((o) => [storeLabel(o), o])),
    warnings: Object.freeze(config.tableSource === null ? step.warnings : [...step.warnings, TABLE_BACKUP_NOTE]),
  });
}
