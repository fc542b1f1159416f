#!/usr/bin/env bash
# Runs the test suite on the machine's Node and on Node 24 at the same time, each against its own
# test database, then prints a result line per version and the total "N passed, N failed".
# In sequence the two take ~85 of CI's 90 minutes; side by side they share the 2 cores instead.
# Expects what .ci/run sets up: dependencies, dist/ (built once: two builds would race on dist/),
# PostgreSQL with both databases, Node 24 in .ci/node24.
# CI_TEST_FILES (space-separated test files) narrows both runs: only for checking this script.
set -uo pipefail
cd "$(dirname "$0")/.."

node24_bin="$PWD/.ci/node24/node_modules/node/bin"
db_url() { echo "postgres://postgres:postgres@127.0.0.1:5432/$1"; }
read -r -a files <<<"${CI_TEST_FILES:-}"
# Without it the second suite would silently run on the machine's Node again.
[ -x "$node24_bin/node" ] || { echo "no Node 24 at $node24_bin/node (.ci/run installs it)"; echo "0 passed, 1 failed"; exit 1; }

# One suite: its Node first on PATH, so vitest, its workers and every CLI the tests spawn
# (they use process.execPath) run on that version. Output lines carry the version's label.
suite() {
  local label=$1 db=$2 bin=$3 results=".ci/vitest-results-$1.json"
  rm -f "$results"
  (
    # Only a directory of its own goes first: the machine's node lives in /usr/bin, and putting that
    # first would also put Debian's python3 (no numpy) before the one the tests need.
    [ -n "$bin" ] && export PATH="$bin:$PATH"
    export TEST_DATABASE_URL PGVECTOR_MIGRATE_TEST_DB="$db"
    TEST_DATABASE_URL=$(db_url "$db")
    printf 'running on %s (%s) against %s\n' "$(node --version)" "$(python3 --version)" "$db"
    # The README's test command. dist/ is built once before both suites start (PGVECTOR_MIGRATE_BUILT
    # skips npm test's own build): a rebuild by one suite would rewrite files the other is running.
    PGVECTOR_MIGRATE_BUILT=1 npm test -- "${files[@]}" --reporter=default --reporter=json --outputFile="$results"
  ) 2>&1 | sed -u "s/^/[$label] /"
  return "${PIPESTATUS[0]}"
}

suite node20 pgvector_migrate_test "" &
pid20=$!
suite node24 pgvector_migrate_test_node24 "$node24_bin" &
pid24=$!
wait "$pid20"; status20=$?
wait "$pid24"; status24=$?

printf '\n'
node .ci/summary.mjs "Node $(node --version)" .ci/vitest-results-node20.json "$status20" \
  "Node $("$node24_bin/node" --version)" .ci/vitest-results-node24.json "$status24"
[ "$status20" -eq 0 ] && [ "$status24" -eq 0 ]
