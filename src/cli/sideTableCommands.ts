/**
 * The commands that rebuild a table beside itself and swap it in: `reembed` (new vectors from a
 * model) and `relayout` (the same rows in another layout). Both share the side table's job, so
 * they share their sub-actions (abort, swap-back) and their exit contract: a job stopped part-way
 * is exit 1 (`resumable`), because running the same command again continues it.
 */
import type { Command } from 'commander';
import { buildReembedConfig, buildRelayoutConfig, DEFAULT_RELAYOUT_PAGE_ROWS, DEFAULTS, type DatabaseConfig, type ReembedFlags, type RelayoutFlags } from '../config.js';
import { DEFAULT_QUEUE_POLICY } from '../queue/engine.js';
import { abortReembed, reembed, swapBackReembed, type ReembedEvent } from '../run/reembed.js';
import { enqueueReembed, finishReembed } from '../run/reembedQueue.js';
import { abortRelayout, planRelayout, relayout, swapBackRelayout, type RelayoutEvent } from '../run/relayout.js';
import type { CliIo } from './main.js';
import { jsonLinesRenderer, reembedProgressRenderer, reembedSummary, relayoutPlanText, relayoutProgressRenderer, relayoutSummary } from './render.js';

export interface SideTableCommandContext {
  io: CliIo;
  /** The database settings with --wait's notice going to stderr. */
  announcing: (database: DatabaseConfig) => DatabaseConfig;
  jsonOut: (flags: { json?: boolean }) => boolean;
  commonOptions: (cmd: Command) => Command;
  writeReport: (file: string, report: object) => Promise<void>;
  /** Exit 1 for a job stopped part-way that the same command resumes; rethrows anything else. */
  resumable: (err: unknown) => void;
}

export function addSideTableCommands(program: Command, { io, announcing, jsonOut, commonOptions, writeReport, resumable }: SideTableCommandContext): void {
  commonOptions(program.command('reembed').description("recompute every vector of the table with a new model in a side table, check it, and swap it in atomically"))
    .option('--users <ids>', "only these users' rows this time (the swap waits until every row is done)")
    .option('--batch-size <n>', 'texts embedded per batch (also rows per committed write)', String(DEFAULTS.batchSize))
    .option('--reduce <method>', 'vectors over 2000 dims: auto (halfvec when possible, else PCA), pca, truncate (first --dimensions numbers, re-normalized), halfvec, none (refuse)', 'auto')
    .option('--dimensions <n>', 'reduce to n dimensions with PCA fitted on the table\'s texts')
    .option('--pca-sample <n>', "texts of the table embedded to fit PCA", String(DEFAULTS.pcaSample))
    .option('--no-swap', 'fill, index and verify the side table, but leave the swap to a later run')
    .option('--no-wait', 'fail with E_LOCKED instead of waiting for loads of the table to finish before the swap')
    .option('--abort', 'drop the unfinished side table and its job (the table is untouched)')
    .option('--swap-back', 'undo the latest swap: the retired table takes the name back, the new one becomes the side table')
    .option('--report <file>', 'write the report as JSON')
    .option('--enqueue', 'make the side table and the job once, then queue one job per page of rows for `worker` processes (PostgreSQL only)')
    .option('--swap', 'finish a queued re-embedding here: embed what is left, index, verify and swap')
    .option('--page-rows <n>', 'with --enqueue: rows per page job (default: one sort window, 64 batches)')
    .option('--job-timeout <seconds>', `with --enqueue: a job whose worker went silent this long is given to another worker (default ${DEFAULT_QUEUE_POLICY.expireSeconds})`)
    .option('--attempts <n>', 'with --enqueue: attempts of a job before it ends failed', '3')
    .action(async (given: ReembedFlags & { json?: boolean }, cmd: Command) => {
      // --swap and --no-swap share one value whose default is true: only a given flag counts.
      const flags = cmd.getOptionValueSource('swap') === 'default' ? { ...given, swap: undefined } : given;
      const built = buildReembedConfig(flags, io.env, io.cwd);
      const config = { ...built, database: announcing(built.database) };
      const json = jsonOut(flags);
      if (config.action === 'abort') {
        const result = await abortReembed(config);
        io.stdout.write(json ? `${JSON.stringify({ aborted: result })}\n` : `aborted job ${result.jobId}: ${result.sideTable} removed; ${result.table} untouched\n`);
        return;
      }
      if (config.action === 'swap-back') {
        const result = await swapBackReembed(config);
        io.stdout.write(json ? `${JSON.stringify({ swappedBack: result })}\n` : `${result.table} is the table of before the swap again (was ${result.restored}); the new one is ${result.sideTable} (reembed --abort removes it)\n`);
        return;
      }
      if (config.action === 'enqueue') {
        const result = await enqueueReembed(config, json ? jsonLinesRenderer<ReembedEvent>(io.stdout) : reembedProgressRenderer(io.stderr));
        io.stdout.write(
          json
            ? `${JSON.stringify({ enqueued: result })}\n`
            : `job ${result.jobId}: ${result.rows} rows of ${result.table} in ${result.pages} page jobs${result.swapEnqueued ? ' (none pending: swap queued)' : ''}; run \`pgvector-migrate worker\` on each machine\n`,
        );
        return;
      }
      try {
        const run = config.action === 'swap' ? finishReembed : reembed;
        const report = await run(config, json ? jsonLinesRenderer<ReembedEvent>(io.stdout) : reembedProgressRenderer(io.stderr));
        if (config.reportPath !== null) await writeReport(config.reportPath, report);
        if (!json) io.stdout.write(reembedSummary(report));
      } catch (err) {
        resumable(err);
      }
    });

  program
    .command('relayout')
    .description('re-partition or re-type the live table (no re-embedding) in a side table, check it, and swap it in atomically')
    .option('--database-url <url>', 'PostgreSQL URL (default: $DATABASE_URL, else an embedded PGlite database)')
    .option('--pglite-dir <dir>', 'directory of the embedded PGlite database', DEFAULTS.pgliteDir)
    .option('--table <name>', 'the table to re-lay out', DEFAULTS.table)
    .option('--partitions <n>', 'hash-partition the new table on user_id into n partitions (2-256)')
    .option('--no-partitions', 'make the new table a plain (unpartitioned) table')
    .option('--vector-type <type>', 'embedding column type of the new table: halfvec or vector')
    .option('--dimensions <n>', 'shorten the vectors to their first n numbers (re-normalized)')
    .option('--reduce <method>', 'how --dimensions shortens: truncate (default; first n numbers, re-normalized) or pca (fitted on the stored vectors, projected in SQL)')
    .option('--pca-sample <n>', 'stored vectors the PCA model is fitted on', String(DEFAULTS.pcaSample))
    .option('--page-rows <n>', 'rows copied per transaction', String(DEFAULT_RELAYOUT_PAGE_ROWS))
    .option('--dry-run', 'print the plan, the space it needs and a measured duration estimate; write nothing')
    .option('--no-swap', 'copy, index and check the side table, but leave the swap to a later run')
    .option('--swap', 'finish the running re-layout (started with --no-swap or interrupted) and swap it in')
    .option('--no-wait', 'fail with E_LOCKED instead of waiting for loads of the table to finish before the swap')
    .option('--abort', 'drop the unfinished side table and its job (the table is untouched)')
    .option('--swap-back', 'undo the latest swap: the retired table takes the name back, the new one becomes the side table')
    .option('--report <file>', 'write the report as JSON')
    .option('--wait', 'when another process holds the PGlite directory, wait for it instead of failing with E_LOCKED')
    .option('--json', 'print JSON lines instead of a progress bar and summary')
    .action(async (given: RelayoutFlags & { json?: boolean }, cmd: Command) => {
      // --swap and --no-swap share one value whose default is true: only a given flag counts;
      // likewise --partitions / --no-partitions.
      const flags: RelayoutFlags & { json?: boolean } = {
        ...given,
        ...(cmd.getOptionValueSource('swap') === 'default' ? { swap: undefined } : {}),
        ...(cmd.getOptionValueSource('partitions') === 'default' ? { partitions: undefined } : {}),
      };
      const built = buildRelayoutConfig(flags, io.env, io.cwd);
      const config = { ...built, database: announcing(built.database) };
      const json = jsonOut(flags);
      if (config.action === 'abort') {
        const result = await abortRelayout(config);
        io.stdout.write(json ? `${JSON.stringify({ aborted: result })}\n` : `aborted job ${result.jobId}: ${result.sideTable} removed; ${result.table} untouched\n`);
        return;
      }
      if (config.action === 'swap-back') {
        const result = await swapBackRelayout(config);
        io.stdout.write(json ? `${JSON.stringify({ swappedBack: result })}\n` : `${result.table} has its layout of before the swap again (was ${result.restored}); the new one is ${result.sideTable} (relayout --abort removes it)\n`);
        return;
      }
      if (config.action === 'dry-run') {
        const plan = await planRelayout(config);
        io.stdout.write(json ? `${JSON.stringify({ type: 'relayout-plan', plan })}\n` : relayoutPlanText(plan));
        return;
      }
      try {
        const report = await relayout(config, json ? jsonLinesRenderer<RelayoutEvent>(io.stdout) : relayoutProgressRenderer(io.stderr));
        if (config.reportPath !== null) await writeReport(config.reportPath, report);
        if (!json) io.stdout.write(relayoutSummary(report));
      } catch (err) {
        resumable(err);
      }
    });
}
