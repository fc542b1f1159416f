#!/usr/bin/env node
// `npm run demo`: the first run a newcomer sees. Migrates the Python-written test data set with the
// tiny test model into an embedded PGlite directory, then checks every store's outcome against the
// data set's own CASES.json. Four of its stores are deliberately bad input (a count mismatch, a
// corrupted token, a missing file, a malicious pickle) and must fail: the CLI rightly exits 1 for
// them, so the demo explains that instead of letting npm print its red error block, and exits 0
// exactly when every store ended as CASES.json says it must.
//
//   node scripts/demo.mjs [--dir <work dir>] [--cases <CASES.json>]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataSet = path.resolve(repo, '../shared/testdata/python-stores');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? path.resolve(process.argv[i + 1]) : fallback;
}
const workDir = option('--dir', path.join(repo, '.pgvector-migrate'));
const casesFile = option('--cases', path.join(dataSet, 'CASES.json'));
const reportFile = path.join(workDir, 'demo-report.json');

const cli = path.join(repo, 'dist/cli/bin.js');
if (!existsSync(cli)) {
  console.error(`demo: ${path.relative(process.cwd(), cli)} is missing; run \`npm ci\` (it builds) or \`npm run build\` first`);
  process.exit(2);
}
const cases = JSON.parse(readFileSync(casesFile, 'utf8'));

const args = [
  cli, 'migrate', path.join(dataSet, 'user_data'),
  '--model', path.join(repo, 'fixtures/models/tiny-bert'),
  '--pglite-dir', path.join(workDir, 'demo'),
  '--backup-dir', path.join(workDir, 'demo-backup'),
  '--report', reportFile,
];
// The master key goes through the environment, as the README tells users to pass it (arguments show in `ps`).
const run = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, ENCRYPTION_MASTER_KEY: cases.master_key } });
if (run.status === null || run.status >= 2 || !existsSync(reportFile)) {
  console.error(`\ndemo: the migration itself did not complete (exit ${run.status ?? run.signal}); the messages above say why`);
  process.exit(run.status === null || run.status < 2 ? 2 : run.status);
}

/** CASES.json says "ok: ...", "fail: ..." or "skipped ..."; an entry like grace's describes an ok store. */
function expectedStatus(expect) {
  if (expect.startsWith('fail')) return 'failed';
  if (expect.startsWith('skipped')) return 'skipped';
  return 'ok';
}

const report = JSON.parse(readFileSync(reportFile, 'utf8'));
const byStore = new Map(report.stores.map((s) => [`${s.userId}/${s.collection}`, s]));
const mismatches = [];
const deliberate = [];
for (const c of cases.cases) {
  const key = `${c.user}/${c.collection}`;
  const store = byStore.get(key);
  const want = expectedStatus(c.expect);
  // A second demo run finds the good stores already loaded and leaves them alone.
  const got = store?.status === 'unchanged' ? 'ok' : store?.status;
  if (got !== want) mismatches.push(`${key}: expected ${want} (${c.expect}), got ${store === undefined ? 'no outcome at all' : store.status}`);
  else if (want === 'failed') deliberate.push(`${key}: ${store.error?.code ?? '?'} (${c.expect.replace(/^fail:\s*/, '')})`);
}

console.log('');
if (mismatches.length > 0) {
  console.log(`demo: ${mismatches.length} store(s) did NOT end as ${path.basename(casesFile)} expects:`);
  for (const m of mismatches) console.log(`  ${m}`);
  process.exit(1);
}
console.log(`demo: success. Every one of the ${cases.cases.length} stores ended as the data set's ${path.basename(casesFile)} expects.`);
if (deliberate.length > 0) {
  console.log(`The ${deliberate.length} failed stores are the data set's deliberate bad inputs, refused as they must be:`);
  for (const d of deliberate) console.log(`  ${d}`);
  console.log('(The CLI itself exits 1 when a store fails, so scripts notice; the demo checks the outcomes instead.)');
}
console.log(`Rows are in ${path.relative(process.cwd(), path.join(workDir, 'demo')) || '.'}; try:`);
console.log(`  node dist/cli/bin.js query --pglite-dir ${path.relative(process.cwd(), path.join(workDir, 'demo'))} --model fixtures/models/tiny-bert --user alice_example_com "travel"`);
console.log(`The full report: ${path.relative(process.cwd(), reportFile)}`);
