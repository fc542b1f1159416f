-- The run ledger: what every run did to every store, so support staff can see the latest outcome
-- of a store, re-run exactly the failed ones, and tell a model change from a plain re-run.
-- Lives in the documents table's schema, like vector_pca_models (rows are keyed by table_name,
-- the documents table's unqualified name). Applied once by src/sink/migrations.ts (version table
-- pgvector_migrate_migrations); idempotent anyway: every statement is IF NOT EXISTS.
-- Placeholders: {{runs}}, {{stores}}, {{stores_latest_index}}, {{stores_run_index}}.

CREATE TABLE IF NOT EXISTS {{runs}} (
  id           uuid PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  tool_version text NOT NULL,
  -- the run's options without secrets (the caller strips the master key and the password)
  options      jsonb NOT NULL DEFAULT '{}',
  status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed'))
);

CREATE TABLE IF NOT EXISTS {{stores}} (
  -- Orders the outcomes: two outcomes of one store can carry the same timestamp (now() is the
  -- transaction's start, and clocks are coarse), a sequence never ties.
  seq            bigserial PRIMARY KEY,
  run_id         uuid NOT NULL REFERENCES {{runs}} (id),
  table_name     text NOT NULL,
  user_id        text NOT NULL,
  collection     text NOT NULL,
  status         text NOT NULL CHECK (status IN ('ok', 'failed', 'unchanged', 'rolled-back')),
  entries        integer CHECK (entries >= 0),
  rows_loaded    integer NOT NULL DEFAULT 0 CHECK (rows_loaded >= 0),
  rows_skipped   integer NOT NULL DEFAULT 0 CHECK (rows_skipped >= 0),
  rows_reused    integer NOT NULL DEFAULT 0 CHECK (rows_reused >= 0),
  error_code     text,
  error_message  text,
  source_sha256  text,
  embedding_model text NOT NULL,
  backup_path    text,
  duration_ms    double precision NOT NULL CHECK (duration_ms >= 0),
  recorded_at    timestamptz NOT NULL DEFAULT now()
);

-- "Latest outcome per (table_name, user_id, collection)": DISTINCT ON / ORDER BY seq DESC LIMIT 1
-- read the newest entry of each store straight from this index.
CREATE INDEX IF NOT EXISTS {{stores_latest_index}} ON {{stores}} (table_name, user_id, collection, seq DESC);
-- The outcomes of one run (reports, and the foreign key's checks when runs are looked up).
CREATE INDEX IF NOT EXISTS {{stores_run_index}} ON {{stores}} (run_id);
