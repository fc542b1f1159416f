-- The version table of the numbered migrations (sql/migrations/NNN_name.sql): one row per
-- migration applied to this schema, so each runs once. Created before the first migration, in
-- the same transaction, under the migrations' advisory lock (src/sink/migrations.ts).
-- Placeholder: {{migrations}}.
CREATE TABLE IF NOT EXISTS {{migrations}} (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
