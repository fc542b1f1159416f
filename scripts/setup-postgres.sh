#!/usr/bin/env bash
# Sets up a local PostgreSQL 15 + pgvector for the test suite and the benchmarks.
#
# Idempotent and quick once done: the pgvector build is skipped when the extension is already
# installed, the cluster is started only when it is down, and role/database creation is guarded.
# pgvector is not in bookworm's binary archive, so it is built from trixie's *source* package
# (a deb-src entry only: a binary `deb` line for trixie would upgrade system packages).
#
# Prints the connection URL as its last line (the test suite's TEST_DATABASE_URL default).
# The password is a throwaway local test credential, never printed outside that URL.
set -euo pipefail

PG_MAJOR=15
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
DB_NAME="${PGVECTOR_MIGRATE_TEST_DB:-pgvector_migrate_test}"
DB_PASSWORD="postgres"
DB_PORT=5432

log() { printf '[setup-postgres] %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  log "must run as root (installs packages and manages the cluster)"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# 1. PostgreSQL server (usually preinstalled; install when missing, e.g. on a fresh machine).
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ ! -x "/usr/lib/postgresql/${PG_MAJOR}/bin/postgres" ]]; then
  log "installing postgresql-${PG_MAJOR}"
  apt-get update -qq
  apt-get install -y -qq "postgresql-${PG_MAJOR}" >/dev/null
fi

# 2. pgvector, built from source when missing.
if [[ ! -f "/usr/share/postgresql/${PG_MAJOR}/extension/vector.control" ]]; then
  log "building pgvector from Debian trixie's source package"
  src_list=/etc/apt/sources.list.d/trixie-src.sources
  if [[ ! -f "$src_list" ]]; then
    cat >"$src_list" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  apt-get update -qq
  apt-get install -y -qq "postgresql-server-dev-${PG_MAJOR}" build-essential dpkg-dev >/dev/null
  build_dir=$(mktemp -d /tmp/pgvector-build.XXXXXX)
  trap 'rm -rf "$build_dir"' EXIT
  # apt downloads as the unprivileged _apt user; let it write there (avoids the "unsandboxed" warning).
  if id _apt >/dev/null 2>&1; then chown _apt "$build_dir"; fi
  (
    cd "$build_dir"
    # Only fetches and unpacks the source; build dependencies come from bookworm (installed above).
    apt-get source -qq pgvector >/dev/null
    cd "$(find . -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n1)"
    make -s PG_CONFIG="$PG_CONFIG" >/dev/null
    make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
  )
  log "pgvector installed"
fi

# 3. Cluster running.
if ! pg_lsclusters -h | awk -v v="$PG_MAJOR" '$1 == v && $2 == "main" && $4 == "online" { found = 1 } END { exit !found }'; then
  log "starting cluster ${PG_MAJOR}/main"
  pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main start
fi

# Wait until the server accepts connections (start-up can take a moment on slow disks).
for _ in $(seq 1 30); do
  if runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p "$DB_PORT"; then break; fi
  sleep 1
done
runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p "$DB_PORT"

psql_admin() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$DB_PORT" "$@"; }

# 4. Test login: the postgres role gets a password (sent on stdin, never on a command line
#    that `ps` could show), and the test database is created once, with pgvector enabled.
psql_admin -d postgres >/dev/null <<SQL
ALTER ROLE postgres WITH PASSWORD '${DB_PASSWORD}';
SQL
if [[ "$(psql_admin -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '${DB_NAME}'")" != "1" ]]; then
  log "creating database ${DB_NAME}"
  psql_admin -d postgres -c "CREATE DATABASE \"${DB_NAME}\"" >/dev/null
fi
psql_admin -d "$DB_NAME" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS vector' >/dev/null

echo "postgres://postgres:${DB_PASSWORD}@127.0.0.1:${DB_PORT}/${DB_NAME}"
