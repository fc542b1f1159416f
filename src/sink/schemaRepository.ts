/** The documents table, its companions and the database: inspection, DDL, the search index. */
import { MigrateError } from '../errors.js';
import { missingTable, type SinkAccess } from './access.js';
import type { Driver } from './driver.js';
import { REPLACED_BY_RUN_COLUMN } from './columns.js';
import { resolveDistance, resolveTable } from './identifiers.js';
import { applyMigrations, ledgerVersion } from './migrations.js';
import { ensurePcaProjection } from './pcaProjection.js';
import { activeModelId } from './pcaModelRepository.js';
import { assertCompatible, assertPreviousCompatible, readTableShape, relationExists, schemaStatements } from './schema.js';
import { buildSearchIndex, readSearchIndex } from './searchIndex.js';
import { setupSearchDefaults } from './searchSettings.js';
import { sqlFile } from './sqlFiles.js';
import { assertPartitions, readTableLayout, rlsActive, rlsStatements } from './tableLayout.js';
import { checkTable, checkTarget } from './target.js';
import type {
  BuildSearchIndexOptions,
  DatabaseInfo,
  Distance,
  EnsureSchemaOptions,
  SearchIndexState,
  SearchSetup,
  TableRef,
  TargetSpec,
  VectorType,
} from './types.js';

/** An existing documents table, described as the TargetSpec that would load and search it. */
export interface TableDescription extends TargetSpec {
  dimensions: number;
  vectorType: VectorType;
  /** 'l2' when the table has an active PCA model (projections keep L2 distances, not angles). */
  distance: Distance;
  /** The active PCA model's id, or null. */
  pcaModelId: string | null;
}

export interface SchemaRepository {
  /** Reachability, pgvector and the compatibility of `target` with what exists. Writes nothing. */
  inspect(target: TargetSpec): Promise<DatabaseInfo>;
  /** The existing table as a target (null when it does not exist or has no vector column). Reads only. */
  describeTable(target: TableRef): Promise<TableDescription | null>;
  /** Creates what is missing (extension, table, indexes, `_previous`, ledger migrations) in one transaction. */
  ensureSchema(target: TargetSpec, options?: EnsureSchemaOptions): Promise<void>;
  /** Enables and forces row-level security with the tool's policy on an existing table; idempotent. */
  enableRls(target: TableRef): Promise<{ changed: boolean }>;
  /** Builds the table's HNSW index if missing (`built: false` when valid already or over the limit). */
  buildSearchIndex(target: TargetSpec, options?: BuildSearchIndexOptions): Promise<{ built: boolean; ms: number }>;
  /** 'valid', 'invalid', 'missing', or null when the table does not exist. Reads only. */
  searchIndexState(target: TableRef): Promise<SearchIndexState>;
  /** ANALYZE of the table (planner statistics). */
  analyze(target: TableRef): Promise<void>;
  /** Makes `hnsw.iterative_scan = relaxed_order` the default of the database (or of `role` in it). */
  setupSearch(options: { role?: string }): Promise<SearchSetup>;
}

interface ServerInfoRow extends Record<string, unknown> {
  server_version: string;
  installed_version: string | null;
  available_version: string | null;
}

export function schemaRepository(access: SinkAccess): SchemaRepository {
  const { db, guard } = access;
  return {
    async inspect(target) {
      const t = checkTarget(target);
      return guard('E_CONNECT', `inspecting ${db.location}`, async () => {
        const server = await serverInfo(db);
        const shape = await readTableShape(db, t.table);
        // A table that cannot take any rows is reported now, in a dry run, not at the first store.
        // (A table only lacking pca_model_id is fine: ensureSchema adds it.)
        if (shape.exists && (shape.missingColumns.length > 0 || shape.columns.includes(REPLACED_BY_RUN_COLUMN))) assertCompatible(shape, t.table, t.dimensions, t.vectorType);
        // Likewise a table under the previous-rows table's name that is something else, checked
        // against the documents table's own type (a dimension mismatch is reported, not thrown).
        const previous = await readTableShape(db, t.previous);
        assertPreviousCompatible(previous, t.table, shape.dimensions ?? t.dimensions, shape.vectorType ?? t.vectorType);
        // --partitions against a table of another layout: refused in a dry run already.
        const layout = await readTableLayout(db, t.table);
        assertPartitions(layout, t.table, target.partitions);
        return {
          driver: db.name,
          location: db.location,
          serverVersion: server.server_version,
          pgvectorVersion: server.installed_version ?? server.available_version,
          // A database still to be created has nothing installed (the in-memory probe does not count).
          pgvectorInstalled: server.installed_version !== null && !db.willBeCreated,
          tableExists: shape.exists,
          tableDimensions: shape.dimensions,
          tableVectorType: shape.vectorType,
          activePcaModelId: await activeModelId(db, target),
          tablePartitions: layout.hashPartitions,
          tableRls: rlsActive(layout),
          willBeCreated: db.willBeCreated,
          ledgerVersion: await ledgerVersion(db, t.ledger),
          previousTable: t.previous.display,
          previousTableExists: previous.exists,
          searchIndex: (await readSearchIndex(db, t.table)).state,
        };
      });
    },

    async describeTable(target) {
      const { table } = checkTable(target);
      return guard('E_LOAD', `describing ${table.display}`, async () => {
        const shape = await readTableShape(db, table);
        if (!shape.exists || shape.dimensions === null) return null;
        const layout = await readTableLayout(db, table);
        const pcaModelId = await activeModelId(db, target);
        return {
          table: target.table,
          dimensions: shape.dimensions,
          vectorType: shape.vectorType ?? 'vector',
          distance: pcaModelId === null ? 'cosine' : 'l2',
          ...(layout.hashPartitions === null ? {} : { partitions: layout.hashPartitions }),
          ...(rlsActive(layout) ? { rls: true } : {}),
          pcaModelId,
        };
      });
    },

    async ensureSchema(target, options = {}) {
      const t = checkTarget(target);
      access.writable('create the schema');
      await guard('E_SCHEMA', `creating table ${t.table.display} in ${db.location}`, async () => {
        await serverInfo(db);
        await db.transaction(async (tx) => {
          await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate schema ${t.table.regclassText}`]);
          // The models table is shared by the schema's documents tables: two of them being set up
          // at once must not both try to create it (CREATE TABLE IF NOT EXISTS can still race).
          await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate schema ${t.models.regclassText}`]);
          const shape = await readTableShape(tx, t.table);
          const previous = await readTableShape(tx, t.previous);
          // Checked before any DDL runs, so a mismatching table is refused with nothing written.
          assertCompatible(shape, t.table, t.dimensions, t.vectorType);
          assertPreviousCompatible(previous, t.table, t.dimensions, t.vectorType);
          const layout = await readTableLayout(tx, t.table);
          assertPartitions(layout, t.table, target.partitions);
          const modelsExist = await relationExists(tx, t.models);
          for (const statement of schemaStatements(t.table, t.dimensions, t.vectorType, resolveDistance(target.distance), shape, modelsExist, previous, options.deferSearchIndex !== true, target.partitions)) {
            await tx.exec(statement);
          }
          await ensurePcaProjection(tx, t.table);
          // After the table exists (read again: it may have been created just now).
          if (target.rls === true) for (const statement of rlsStatements(await readTableLayout(tx, t.table), t.table)) await tx.exec(statement);
          // The schema-wide objects (the run ledger), under their own lock, in this transaction.
          await applyMigrations(tx, t.ledger);
        });
      });
    },

    async enableRls(target) {
      const { table } = checkTable(target);
      access.writable('enable row-level security');
      return guard('E_SCHEMA', `enabling row-level security on ${table.display} in ${db.location}`, () =>
        db.transaction(async (tx) => {
          // The same lock as ensureSchema: never two schema changes of one table at once.
          await tx.query(sqlFile('queries/lock.sql'), [`pgvector-migrate schema ${table.regclassText}`]);
          const shape = await readTableShape(tx, table);
          if (!shape.exists) throw missingTable(table);
          // Only a documents table (not `<table>_previous`, not something else under that name).
          assertCompatible(shape, table, shape.dimensions ?? 1, shape.vectorType ?? 'vector');
          const statements = rlsStatements(await readTableLayout(tx, table), table);
          for (const statement of statements) await tx.exec(statement);
          return { changed: statements.length > 0 };
        }),
      );
    },

    async buildSearchIndex(target, options = {}) {
      const t = checkTarget(target);
      access.writable('build the search index');
      return guard('E_SCHEMA', `building the HNSW index of ${t.table.display} in ${db.location}`, async () => {
        const shape = await readTableShape(db, t.table);
        if (!shape.exists) throw missingTable(t.table);
        // The index's operator class follows the column's type: a mismatching target is refused.
        assertCompatible(shape, t.table, t.dimensions, t.vectorType);
        return buildSearchIndex(db, t, resolveDistance(target.distance), options);
      });
    },

    async searchIndexState(target) {
      const table = resolveTable(target.table);
      return guard('E_LOAD', `reading the HNSW index of ${table.display}`, async () => (await readSearchIndex(db, table)).state);
    },

    async analyze(target) {
      const table = resolveTable(target.table);
      access.writable('analyze the table');
      await guard('E_LOAD', `analyzing ${table.display}`, () => db.exec(sqlFile('queries/analyze.sql', { table: table.quoted })));
    },

    async setupSearch(options) {
      access.writable('set search defaults');
      return guard('E_SCHEMA', `setting the search defaults of ${db.location}`, () => setupSearchDefaults(db, options.role ?? null));
    },
  };
}

/** Server version and pgvector state; E_CONNECT when pgvector is neither installed nor installable. */
async function serverInfo(db: Driver): Promise<ServerInfoRow> {
  const { rows } = await db.query<ServerInfoRow>(sqlFile('queries/server_info.sql'));
  const info = rows[0];
  if (info === undefined) throw new MigrateError('E_INTERNAL', 'server_info.sql returned no row');
  if (info.installed_version === null && info.available_version === null) {
    throw new MigrateError(
      'E_CONNECT',
      `pgvector is not available on ${db.location} (PostgreSQL ${info.server_version}): install the extension on the server (see scripts/setup-postgres.sh)`,
    );
  }
  return info;
}
