// Sums vitest JSON results, one file per Node version: a line per version, then the total line
// "N passed, N failed" that CI reads last. A missing or unreadable file, or a run that exited non-zero
// with no failed test (vitest found no file, a worker crashed), counts as one failure, so such a
// suite cannot pass unnoticed.
// Usage: node .ci/summary.mjs <label> <results.json> <vitest exit status> [<label> <json> <status>]...
import { readFileSync } from 'node:fs';

function counts(file, status) {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8'));
    // A file that fails to load (syntax error, failing hook) has no failed test but a failed suite.
    const failed = r.numFailedTests + (r.numFailedTestSuites > 0 && r.numFailedTests === 0 ? r.numFailedTestSuites : 0);
    const c = { passed: r.numPassedTests, failed, skipped: r.numPendingTests + r.numTodoTests };
    return status !== '0' && failed === 0 ? { ...c, failed: 1, note: `vitest exited ${status}` } : c;
  } catch (error) {
    return { passed: 0, failed: 1, skipped: 0, note: `no results (${error.code ?? error.message})` };
  }
}

const line = (c) => `${c.passed} passed, ${c.failed} failed` + (c.skipped > 0 ? `, ${c.skipped} skipped` : '');
const total = { passed: 0, failed: 0, skipped: 0 };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 3) {
  const [label, file, status] = [args[i], args[i + 1], args[i + 2] ?? '1'];
  const c = counts(file, status);
  console.log(`${label}: ${line(c)}` + (c.note ? ` (${c.note})` : ''));
  for (const k of Object.keys(total)) total[k] += c[k];
}
console.log(line(total));
