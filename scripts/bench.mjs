#!/usr/bin/env node
// Runs every benchmark group, each in its own process (so one group's memory and warm caches do
// not colour the next), and prints the figures with their targets at the end.
//
//   npm run bench                          all groups, full sizes (~20 minutes on 2 cores)
//   npm run bench -- --quick               small sizes (a few minutes)
//   npm run bench -- --only embed,load     some groups: pca, pca-sql, embed, load, e2e, workers
//   Any other flag is passed to every group (e.g. --rounds 3).
//
// The database: BENCH_DATABASE_URL, else TEST_DATABASE_URL, else the local test server
// (scripts/setup-postgres.sh). The MiniLM-shaped model and the corpora are generated on first use
// (bench-models/, bench-data/; both gitignored).

import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { REPO } from './bench-lib.mjs';

const GROUPS = { pca: 'bench-pca.mjs', 'pca-sql': 'bench-pca-sql.mjs', embed: 'bench-embed.mjs', load: 'bench-load.mjs', e2e: 'bench-e2e.mjs', workers: 'bench-workers.mjs' };
const argv = process.argv.slice(2);
const onlyAt = argv.indexOf('--only');
const only = onlyAt >= 0 ? (argv[onlyAt + 1] ?? '').split(',') : Object.keys(GROUPS);
const passed = argv.filter((_, i) => i !== onlyAt && i !== onlyAt + 1);
const unknown = only.filter((g) => !(g in GROUPS));
if (unknown.length > 0) {
  console.error(`unknown group(s) ${unknown.join(', ')}; groups: ${Object.keys(GROUPS).join(', ')}`);
  process.exit(2);
}

let commit = 'unknown';
try {
  commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).stdout.trim() || commit;
} catch {
  // not a git checkout
}
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`# pgvector-migrate benchmarks: commit ${commit}, ${os.cpus().length} x ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);

const summary = [];
let failed = false;
for (const group of only) {
  console.log(`\n## ${group}`);
  const child = spawnSync(process.execPath, [path.join(REPO, 'scripts', GROUPS[group]), ...passed], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  process.stdout.write(child.stdout ?? '');
  if (child.status !== 0) {
    failed = true;
    summary.push(`${group}: exited with ${child.status}`);
  }
  for (const line of (child.stdout ?? '').split('\n')) if (!line.startsWith('#') && (/ vs .*: [\d.]+x/.test(line) || /target [<>]=/.test(line))) summary.push(line);
}
console.log('\n## summary (ratio against the baseline measured in the same run; target in parentheses)');
for (const line of summary) console.log(line);
if (summary.some((l) => l.endsWith('FAIL'))) console.log('\nsome targets were missed on this run (see BENCHMARKS.md for the machine and its load)');
process.exit(failed ? 1 : 0);
