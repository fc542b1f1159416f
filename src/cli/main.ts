import { writeFile, rename } from 'node:fs/promises';
import { Command, CommanderError, Option } from 'commander';
import path from 'node:path';
import { buildMigrateConfig, buildQueryConfig, buildWorkerConfig, DEFAULTS, DTYPES, type WorkerFlags, databaseConfig, type DatabaseConfig, type Environment, type EnqueueFlags, type MigrateFlags, queuePolicy, type QueryFlags } from '../config.js';
import { isMigrateError, MigrateError } from '../errors.js';
import { exitCodeOf, type RunReport } from '../run/report.js';
import { migrate } from '../run/migrate.js';
import { failedRunRecorder } from '../run/failedRun.js';
import { exportPca, importPca } from '../run/pcaCommands.js';
import { runDoctor } from '../run/doctor.js';
import { runQuery } from '../run/query.js';
import { runRollback } from '../run/rollback.js';
import { runSetupRls } from '../run/setupRls.js';
import { runSetupSearch } from '../run/setupSearch.js';
import { runStatus, sourceFromLedger, statusNotes } from '../run/status.js';
import { TARGET_DATABASE } from '../run/ledgerOptions.js';
import { runVerify } from '../run/verify.js';
import { enqueueMigration } from '../run/migrateQueue.js';
import { work } from '../run/worker.js';
import { queueBar, queueStatus, UNREADABLE_QUEUE_NOTE, watchQueue } from '../run/queueStatus.js';
import { DEFAULT_QUEUE_POLICY } from '../queue/engine.js';
import type { WorkerEvent } from '../queue/worker.js';
import { jsonLinesRenderer, progressRenderer, summaryTable, type Output } from './render.js';
import { addSideTableCommands } from './sideTableCommands.js';
import { interruptedMessage, signalExitCode, withInterrupts, type ProcessSignals } from './interrupt.js';
import { storeLabel } from '../storeLabel.js';

export interface CliIo {
  argv: string[];
  env: Environment;
  cwd: string;
  stdout: Output;
  stderr: Output;
  stdin?: NodeJS.ReadableStream;
  now: () => Date;
  /** SIGINT/SIGTERM stop a migrate run between stores (bin.ts passes `process`). */
  signals?: ProcessSignals;
}

/** Failures of `reembed` and `relayout` that running the same command again continues from (exit 1, not 2). */
const RESUMABLE: ReadonlySet<string> = new Set(['E_REEMBED', 'E_EMBED', 'E_LOAD', 'E_LOCKED']);

async function writeReport(file: string, report: RunReport | object): Promise<void> {
  // Write then rename, so a reader never sees half a report.
  await writeFile(`${file}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

/** commander's parser for a repeatable option: every occurrence, in order. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function commonOptions(cmd: Command): Command {
  return cmd
    .option('--database-url <url>', 'PostgreSQL URL (default: $DATABASE_URL, else an embedded PGlite database)')
    .option('--pglite-dir <dir>', 'directory of the embedded PGlite database', DEFAULTS.pgliteDir)
    .option('--model <id-or-dir>', `embedding model: a hub id or a local directory (default: ${DEFAULTS.model})`)
    .option('--model-cache <dir>', 'where downloaded models are cached')
    .option('--offline', 'never download a model; use local directories and the cache only')
    .option('--dtype <dtype>', `which ONNX file of the model embeds: ${DTYPES.join(', ')} (default: $PGVECTOR_MIGRATE_DTYPE, else ${DEFAULTS.dtype}; query and verify: the dtype the rows record)`)
    .option('--table <name>', 'target table', DEFAULTS.table)
    .option('--wait', 'when another process holds the PGlite directory, wait for it instead of failing with E_LOCKED')
    .option('--json', 'print JSON lines instead of a progress bar and table');
}

/** Runs the CLI and returns the exit code: 0 ok, 1 a store failed, 2 usage, configuration or connection error. */
export async function runCli(io: CliIo): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('pgvector-migrate')
    .description('Migrate per-user local vector stores (vectors.pkl + metadata.json) into PostgreSQL + pgvector')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });
  // Waiting for another process's PGlite directory (--wait) is said on stderr, whatever the output format.
  const announcing = (database: DatabaseConfig): DatabaseConfig => ({ ...database, onLockWait: (notice) => void io.stderr.write(`${notice}\n`) });
  const dbConfig = (flags: { databaseUrl?: string; pgliteDir?: string; wait?: boolean }) => announcing(databaseConfig(flags, io.env, io.cwd));

  commonOptions(
    program
      .command('migrate')
      .description('re-embed and load every store under <root> (user_data/{user}/vector_store_{collection}/), or of a PostgreSQL table (--from-table)')
      .argument('[root]', 'the user_data directory (not with --from-table)'),
  )
    .option('--dry-run', 'read, decrypt and validate everything, estimate the time, check the database; write nothing')
    .option('--master-key <key>', 'master key for encrypted metadata; repeat it for several candidates, tried in order (default: $ENCRYPTION_MASTER_KEY, then $ENCRYPTION_MASTER_KEYS; prefer the variables: arguments are visible in ps)', collect)
    .option('--try-default-key', "also try the application's default per-user key (stores written before a master key was set)")
    .option('--batch-size <n>', 'texts embedded per batch', String(DEFAULTS.batchSize))
    .option('--users <ids>', 'only these user ids, comma-separated')
    .option('--source <format>', 'store format: auto (by the files present), simple (vectors.pkl + metadata.json), faiss, llamaindex, chroma', 'auto')
    .option('--user <id>', 'the one owner of every store under <root> (FAISS, LlamaIndex and Chroma stores are not per user)')
    .option('--layout <pattern>', "map directories under <root> to owners and collections, e.g. '{user}/{collection}', '{user}/faiss_index', 'tenants/{user}/storage'")
    .option('--backup-dir <dir>', 'where store files are copied before loading', DEFAULTS.backupRoot)
    .option('--no-backup', 'do not back up store files')
    .option('--report <file>', 'write the run report as JSON')
    .option('--embeddings <mode>', 'reembed: texts through --model; keep: the stored vectors as they are, no model', 'reembed')
    .option('--source-model <name>', `with --embeddings keep: recorded as embedding_model (default: ${DEFAULTS.keptLabel})`)
    .option('--reduce <method>', 'vectors over 2000 dims: auto (halfvec when possible, else PCA), pca, truncate (first --dimensions numbers, re-normalized), halfvec, none (refuse)', 'auto')
    .option('--dimensions <n>', 'reduce to n dimensions with PCA on purpose (smaller index, faster search)')
    .option('--pca-sample <n>', 'vectors sampled across all stores to fit PCA', String(DEFAULTS.pcaSample))
    .option('--refit-pca', "fit a new PCA model and rewrite all of the table's rows in one transaction")
    .option('--collections <names>', 'only these collections, comma-separated')
    .option('--retry-failed', 'only the stores whose latest outcome in the ledger is a failure')
    .option('--force', 'reload stores whose source files are unchanged since their last successful load')
    .option('--no-wait', 'fail a store with E_LOCKED when another run is writing it, instead of waiting')
    .option('--keep-previous <days>', 'days the rows a run replaced are kept for rollback', String(DEFAULTS.keepPreviousDays))
    .option('--partitions <n>', 'create the table hash-partitioned on user_id into n partitions (2-256), each with its own HNSW index')
    .option('--rls', "enable and force row-level security: a session sees only the rows of user current_setting('app.user_id')")
    .option('--owner-in-metadata', "also write user_id and collection_name into each row's metadata (for LangChain.js and other clients that filter on metadata only)")
    .option('--enqueue', 'plan once (validate, table, PCA, ledger run), then queue one job per store for `worker` processes (PostgreSQL only)')
    .option('--job-timeout <seconds>', `with --enqueue: a job whose worker went silent this long is given to another worker (default ${DEFAULT_QUEUE_POLICY.expireSeconds})`)
    .option('--attempts <n>', 'with --enqueue: attempts of a store before it ends failed', '3')
    .option('--from-table <table>', 'read the stores from this PostgreSQL table (schema.table) instead of a directory; it is only read')
    .option('--from-database <url>', 'with --from-table: the database holding the table (default: the target database)')
    .option('--map <pairs>', "with --from-table: columns as KEY=VALUE,... (keys id, user_id, collection, text, metadata, vector; user_id and collection may be a constant 'x')")
    .action(async (root: string | undefined, flags: MigrateFlags & EnqueueFlags & { json?: boolean; user?: string }) => {
      const built = buildMigrateConfig(root ?? '', { ...flags, ...(flags.user === undefined ? {} : { owner: flags.user }) }, io.env, io.cwd, io.now());
      const config = { ...built, database: announcing(built.database) };
      const json = flags.json === true || io.stdout.isTTY !== true;
      if (flags.enqueue === true) {
        const result = await enqueueMigration(config, queuePolicy(flags), json ? jsonLinesRenderer(io.stdout) : progressRenderer(io.stderr));
        io.stdout.write(
          json
            ? `${JSON.stringify({ enqueued: result })}\n`
            : result.runId === null
              ? `all ${result.stores} store jobs of this plan are queued already; nothing added\n`
              : `run ${result.runId}: ${result.enqueued} store jobs queued (${result.failedValidation} stores failed validation); run \`pgvector-migrate worker${config.tableSource?.inTarget === false ? ' --from-database URL' : ''}\` on each machine\n`,
        );
        return;
      }
      const render = json ? jsonLinesRenderer(io.stdout) : progressRenderer(io.stderr);
      const recorder = failedRunRecorder(config, io.now);
      let report: RunReport;
      try {
        report = await withInterrupts(io.signals, io.stderr, (signal) => migrate(config, (e) => (recorder.observe(e), render(e)), signal === undefined ? {} : { signal }));
      } catch (err) {
        // Exit 2 after the run began: the report still says what failed and what was done.
        if (config.reportPath !== null) await writeReport(config.reportPath, recorder.report(err)).catch(() => undefined);
        throw err;
      }
      if (config.reportPath !== null) await writeReport(config.reportPath, report);
      if (!json) io.stdout.write(summaryTable(report));
      exitCode = exitCodeOf(report);
      if (report.interrupted !== undefined) {
        io.stderr.write(interruptedMessage(report));
        exitCode = signalExitCode(report.interrupted.reason) ?? exitCode;
      }
    });

  commonOptions(
    program
      .command('query')
      .description("search one user's rows: the 'test a search' step of a migration")
      .argument('[text]', 'the query text (or --embedding-file)'),
  )
    .requiredOption('--user <id>', 'user id whose rows are searched')
    .option('--collection <name>', 'only this collection')
    .option('--embedding-file <file>', 'the query vector as a JSON array (- for stdin), for tables whose model cannot run here (keep mode)')
    .addOption(new Option('-k <n>', 'number of results').default('5'))
    .action(async (text: string | undefined, flags: QueryFlags & { json?: boolean }) => {
      const built = buildQueryConfig(text, flags, io.env, io.cwd);
      const config = { ...built, database: announcing(built.database) };
      const { hits, pcaModelId } = await runQuery(config, io.stdin);
      if (flags.json === true || io.stdout.isTTY !== true) {
        io.stdout.write(`${JSON.stringify({ user: config.userId, collection: config.collection, k: config.k, pcaModelId, hits })}\n`);
      } else if (hits.length === 0) {
        io.stdout.write(`no rows for user ${config.userId}${config.collection === null ? '' : ` in ${config.collection}`}\n`);
      } else {
        for (const [i, h] of hits.entries()) {
          io.stdout.write(`${i + 1}. ${h.distance.toFixed(4)}  ${h.collection}#${h.sourceIndex ?? 'app'}  ${h.text.replace(/\s+/g, ' ').slice(0, 100)}\n`);
        }
      }
    });

  const dbOptions = (cmd: Command) =>
    cmd
      .option('--database-url <url>', 'PostgreSQL URL (default: $DATABASE_URL, else an embedded PGlite database)')
      .option('--pglite-dir <dir>', 'directory of the embedded PGlite database', DEFAULTS.pgliteDir)
      .option('--table <name>', 'documents table', DEFAULTS.table)
      .option('--wait', 'when another process holds the PGlite directory, wait for it instead of failing with E_LOCKED')
      .option('--json', 'print JSON');
  const jsonOut = (flags: { json?: boolean }) => flags.json === true || io.stdout.isTTY !== true;

  dbOptions(program.command('status').description('the latest outcome of every store, failed ones first with their reason'))
    .option('--user <id>', 'only this user')
    .option('--watch', "follow the table's queued jobs (migrate/reembed --enqueue) until none is left: done/total, rate, ETA, live workers")
    .action(async (flags: { databaseUrl?: string; pgliteDir?: string; table: string; user?: string; json?: boolean; watch?: boolean }) => {
      if (flags.watch === true) {
        const tty = !jsonOut(flags) && io.stderr.isTTY === true;
        const last = await withInterrupts(io.signals, io.stderr, (signal) =>
          watchQueue(dbConfig(flags), flags.table, { intervalMs: 2000, ...(signal === undefined ? {} : { signal }) }, (s) =>
            tty ? void io.stderr.write(`\r\x1b[2K${queueBar(s)}`) : void io.stdout.write(`${JSON.stringify({ type: 'queue', ...s, at: io.now().toISOString() })}\n`),
          ),
        );
        if (tty) io.stderr.write('\n');
        if (last === null) io.stderr.write(`no job was ever queued in this database\n`);
        exitCode = (last?.failed ?? 0) > 0 ? 1 : 0;
        return;
      }
      const status = await runStatus({ database: dbConfig(flags), table: flags.table, userId: flags.user ?? null });
      const read = await queueStatus(dbConfig(flags), flags.table);
      const queue = read === 'unreadable' ? null : read;
      const notes = [...statusNotes(status), ...(read === 'unreadable' ? [UNREADABLE_QUEUE_NOTE] : [])];
      const outcomes = status.stores;
      if (jsonOut(flags)) {
        io.stdout.write(`${JSON.stringify({ table: flags.table, stores: outcomes, unfinishedRuns: status.unfinishedRuns, searchIndex: status.searchIndex, notes })}\n`);
      } else if (outcomes.length === 0) {
        io.stdout.write(`no run recorded for table ${flags.table}${flags.user === undefined ? '' : ` and user ${flags.user}`}\n`);
      } else {
        for (const o of outcomes) {
          const why = o.errorCode === null ? '' : `  ${o.errorCode}: ${o.errorMessage ?? ''}`;
          io.stdout.write(`${storeLabel(o).padEnd(40)} ${o.status.padEnd(11)} rows ${String(o.rows).padStart(6)}  run ${o.runId} ${o.recordedAt ?? ''}${why}\n`);
        }
        for (const note of notes) io.stdout.write(`note: ${note}\n`);
      }
      if (queue !== null && queue.total > 0) {
        if (jsonOut(flags)) io.stdout.write(`${JSON.stringify({ queue })}\n`);
        else io.stdout.write(`queue: ${queue.done}/${queue.total} jobs done, ${queue.left} left, ${queue.failed} failed; ${queue.workers.length} worker(s) connected\n`);
      }
      // Failed jobs are failed work even before a store records it (a page of a re-embedding).
      exitCode = outcomes.some((o) => o.status === 'failed') || (queue?.failed ?? 0) > 0 ? 1 : 0;
    });

  commonOptions(program.command('verify').description('prove the table against the source: counts, text hashes, owners, and a search per store').argument('[root]', 'the user_data directory (default: the one the latest run read)'))
    .option('--master-key <key>', 'master key for encrypted metadata; repeat it for several candidates (default: $ENCRYPTION_MASTER_KEY, then $ENCRYPTION_MASTER_KEYS)', collect)
    .option('--try-default-key', "also try the application's default per-user key")
    .option('--embeddings <mode>', 'how the table was loaded: reembed (search with --model) or keep', 'reembed')
    .option('--user <id>', 'only this user (with --source faiss|llamaindex|chroma or --layout: also the owner, as in migrate)')
    .option('--collections <names>', 'only these collections, comma-separated')
    .option('--source <format>', 'store format, as in migrate', 'auto')
    .option('--layout <pattern>', 'directories to owners and collections, as in migrate')
    .option('--from-table <table>', 'the PostgreSQL table the run read, as in migrate')
    .option('--from-database <url>', 'with --from-table: the database holding it, as in migrate')
    .option('--map <pairs>', 'with --from-table: the mapping the run used, as in migrate')
    .action(async (root: string | undefined, flags: MigrateFlags & { json?: boolean; user?: string }) => {
      const database = dbConfig(flags);
      const recorded = root !== undefined || flags.fromTable !== undefined ? null : await sourceFromLedger(database, flags.table ?? DEFAULTS.table);
      if (root === undefined && flags.fromTable === undefined && recorded === null) throw new MigrateError('E_USAGE', 'no root given and none recorded in the ledger: pass the user_data directory (or --from-table)');
      if (recorded?.kind === 'table') {
        // The ledger never holds the source's password: a table of another database must be named again.
        if (recorded.database !== TARGET_DATABASE) {
          throw new MigrateError('E_USAGE', `the latest run read table ${recorded.table} at ${recorded.database}: pass --from-table ${recorded.table} --from-database postgres://... --map '${recorded.map}'`);
        }
      }
      const sourceFlags = recorded?.kind === 'table' ? { ...flags, fromTable: recorded.table, map: recorded.map } : flags;
      const resolvedRoot = root ?? (recorded?.kind === 'root' ? recorded.root : '');
      // --user is only a filter on today's per-user layout; for the other formats it is their owner too.
      // A table mapped without user_id is owned by --user, as in migrate.
      const tableOwner = sourceFlags.fromTable !== undefined && !/(^|,)\s*user_id\s*=/.test(sourceFlags.map ?? '');
      const owns = tableOwner || (flags.user !== undefined && flags.layout === undefined && flags.source !== undefined && !['auto', 'simple'].includes(flags.source));
      const built = buildMigrateConfig(resolvedRoot, { ...sourceFlags, backup: false, ...(flags.user === undefined ? {} : { users: flags.user }), ...(owns ? { owner: flags.user } : {}) }, io.env, io.cwd, io.now());
      const config = { ...built, database };
      const result = await runVerify(config);
      if (jsonOut(flags)) {
        io.stdout.write(`${JSON.stringify(result)}\n`);
      } else {
        for (const s of result.stores) io.stdout.write(`${s.ok ? 'ok      ' : 'MISMATCH'} ${s.store.padEnd(40)} ${s.rows}/${s.expectedRows} rows${s.applicationRows > 0 ? ` + ${s.applicationRows} application rows` : ''}\n`);
        for (const m of result.mismatches) io.stdout.write(`  ${m.store}: ${m.kind}: ${m.detail}\n`);
        io.stdout.write(`${result.mismatches.length === 0 ? 'verified' : `${result.mismatches.length} mismatches`}: ${result.stores.length} stores\n`);
      }
      exitCode = result.mismatches.length === 0 ? 0 : 1;
    });

  dbOptions(program.command('doctor').description('check a table for mixed embedding fingerprints, zero or non-normalized vectors, duplicate and empty texts')).action(
    async (flags: { databaseUrl?: string; pgliteDir?: string; table: string; json?: boolean }) => {
      const result = await runDoctor({ database: dbConfig(flags), table: flags.table });
      if (jsonOut(flags)) io.stdout.write(`${JSON.stringify(result)}\n`);
      else io.stdout.write(result.problems.length === 0 ? `${flags.table}: ${result.diagnosis.rows} rows (${result.diagnosis.applicationRows} written by applications), healthy\n` : `${result.problems.map((p) => `problem: ${p}`).join('\n')}\n`);
      exitCode = result.problems.length === 0 ? 0 : 1;
    },
  );

  dbOptions(program.command('rollback').description('restore the rows a run replaced, one transaction per store'))
    .requiredOption('--run <id>', 'the run to undo (see status)')
    .action(async (flags: { databaseUrl?: string; pgliteDir?: string; table: string; run: string; json?: boolean }) => {
      const result = await runRollback({ database: dbConfig(flags), table: flags.table, runId: flags.run });
      if (jsonOut(flags)) io.stdout.write(`${JSON.stringify(result)}\n`);
      else for (const s of result.stores) io.stdout.write(`${s.status.padEnd(9)} ${storeLabel(s).padEnd(40)} restored ${s.restored}, removed ${s.removed}${s.reason === null ? '' : `  ${s.reason}`}\n`);
      exitCode = result.stores.every((s) => s.status === 'restored') ? 0 : 1;
    });

  dbOptions(program.command('setup-rls').description("enable and force row-level security on an existing table (policy: user_id = current_setting('app.user_id')); idempotent")).action(
    async (flags: { databaseUrl?: string; pgliteDir?: string; table: string; json?: boolean }) => {
      const result = await runSetupRls({ database: dbConfig(flags), table: flags.table });
      if (jsonOut(flags)) io.stdout.write(`${JSON.stringify(result)}\n`);
      else io.stdout.write(`${result.table}: row-level security ${result.changed ? 'enabled and forced' : 'was already enabled and forced'}\n`);
    },
  );

  dbOptions(program.command('setup-search').description('make new connections of other clients (or of --role) scan the HNSW index iteratively, so per-user top-k returns k rows (pgvector 0.8+); idempotent'))
    .option('--role <name>', "set the default of this role's connections to the database instead of the database's own")
    .action(async (flags: { databaseUrl?: string; pgliteDir?: string; wait?: boolean; table: string; role?: string; json?: boolean }) => {
      const result = await runSetupSearch({ database: dbConfig(flags), role: flags.role ?? null });
      const scope = result.role === null ? `database ${result.database}` : `role ${result.role} in database ${result.database}`;
      if (jsonOut(flags)) io.stdout.write(`${JSON.stringify(result)}\n`);
      else io.stdout.write(`${scope}: ${result.setting} ${result.changed ? 'set for new connections' : 'was already set'} (pgvector ${result.pgvectorVersion})\n`);
    });

  // reembed and relayout: a job stopped part-way (a check before the swap, a batch, a lock) is
  // resumed by running the same command again. That is exit 1; configuration and connection
  // problems stay 2.
  const resumable = (err: unknown): void => {
    if (!isMigrateError(err) || !RESUMABLE.has(err.code)) throw err;
    io.stderr.write(`error ${err.code}: ${err.message}\n`);
    exitCode = 1;
  };
  addSideTableCommands(program, { io, announcing, jsonOut, commonOptions, writeReport, resumable });

  program
    .command('worker')
    .description('run queued jobs (migrate --enqueue, reembed --enqueue) until stopped; start one on each machine')
    .option('--database-url <url>', 'PostgreSQL URL of the queue and the table (default: $DATABASE_URL)')
    .option('--model-cache <dir>', 'where downloaded models are cached')
    .option('--offline', 'never download a model; use local directories and the cache only')
    .option('--master-key <key>', "this machine's master key(s) for encrypted stores (default: $ENCRYPTION_MASTER_KEY, then $ENCRYPTION_MASTER_KEYS); jobs never carry keys", collect)
    .option('--try-default-key', "also try the application's default per-user key")
    .option('--concurrency <n>', 'jobs run at once by this process', '1')
    .option('--threads <n>', "onnxruntime threads per model call (default: one per physical core); several workers on one machine each want a share")
    .option('--from-database <url>', 'PostgreSQL URL of the database holding the --from-table source of queued jobs, when it is not the target database (default: $PGVECTOR_MIGRATE_FROM_DATABASE); jobs name it only as host:port/database')
    .option('--drain', 'exit 0 once no job is queued or running (batch jobs, tests)')
    .option('--json', 'print JSON lines')
    .action(async (flags: WorkerFlags & { json?: boolean }) => {
      const config = buildWorkerConfig(flags, io.env, io.cwd);
      // A worker's log is its events, one JSON line each (stdout with --json or a pipe, else stderr).
      const render = jsonLinesRenderer<WorkerEvent>(jsonOut(flags) ? io.stdout : io.stderr);
      // A signal stops fetching; the jobs in hand finish, so the exit is a clean 0.
      await withInterrupts(io.signals, io.stderr, (signal) => work(config, render, signal));
    });

  const pca = program.command('pca').description("the table's PCA model (dimension reduction)");
  const pcaOptions = (cmd: Command) =>
    cmd
      .option('--database-url <url>', 'PostgreSQL URL (default: $DATABASE_URL, else an embedded PGlite database)')
      .option('--pglite-dir <dir>', 'directory of the embedded PGlite database', DEFAULTS.pgliteDir)
      .option('--table <name>', 'documents table', DEFAULTS.table)
      .option('--wait', 'when another process holds the PGlite directory, wait for it instead of failing with E_LOCKED');
  pcaOptions(pca.command('export').description("write the table's active PCA model to a file").argument('<file>')).action(
    async (file: string, flags: { databaseUrl?: string; pgliteDir?: string; table: string }) => {
      const record = await exportPca({ database: dbConfig(flags), table: flags.table, file: path.resolve(io.cwd, file) });
      io.stdout.write(`${JSON.stringify({ exported: record.id, table: flags.table, sourceDimensions: record.sourceDimensions, targetDimensions: record.targetDimensions, file })}\n`);
    },
  );
  pcaOptions(pca.command('import').description("make a model file the table's active PCA model").argument('<file>')).action(
    async (file: string, flags: { databaseUrl?: string; pgliteDir?: string; table: string }) => {
      const record = await importPca({ database: dbConfig(flags), table: flags.table, file: path.resolve(io.cwd, file) });
      io.stdout.write(`${JSON.stringify({ imported: record.id, table: flags.table, sourceDimensions: record.sourceDimensions, targetDimensions: record.targetDimensions })}\n`);
    },
  );

  try {
    await program.parseAsync(io.argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Asked-for help and version are not errors; everything else commander raises, including help
      // shown because no command was given ('commander.help'), is a usage error.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
    }
    const e = isMigrateError(err) ? err : new MigrateError('E_INTERNAL', err instanceof Error ? err.message : String(err));
    io.stderr.write(`error ${e.code}: ${e.message}\n`);
    return 2;
  }
}
