-- One row per (run, store) the run replaced with a run id: the rows it deleted are kept in the
-- documents table's `<table>_previous` (schema/005_documents_previous.sql) under the same run id,
-- and this row says how many there were, so that a store that had NO rows before is recorded too
-- (rolling it back removes the run's rows) and a partly purged or tampered copy is noticed.
-- Written in the load's own transaction, so it exists exactly when the replacement committed.
-- restored_at: the run's replacement was rolled back (its saved rows are back in the table and
-- gone from _previous). purged_at: purgePrevious deleted the saved rows; no rollback any more.
-- Placeholders: {{runs}}, {{replacements}}, {{replacements_store_index}}.

CREATE TABLE IF NOT EXISTS {{replacements}} (
  -- Orders the replacements of one store (a rollback must undo the latest one first).
  seq         bigserial PRIMARY KEY,
  run_id      uuid NOT NULL REFERENCES {{runs}} (id),
  table_name  text NOT NULL,
  user_id     text NOT NULL,
  collection  text NOT NULL,
  rows_saved  integer NOT NULL CHECK (rows_saved >= 0),
  -- now() of the replacing transaction: equal to replaced_at of the rows it saved in _previous
  -- (a purge compares both with the same cut-off).
  replaced_at timestamptz NOT NULL DEFAULT now(),
  -- now() of the latest transaction in which this run wrote the store (a run can load a store,
  -- then rewrite it in a PCA refit): equal to the created_at of the rows it inserted last, which
  -- is how a rollback spots rows written after it by anything else.
  written_at  timestamptz NOT NULL DEFAULT now(),
  restored_at timestamptz,
  purged_at   timestamptz,
  UNIQUE (run_id, table_name, user_id, collection)
);

CREATE INDEX IF NOT EXISTS {{replacements_store_index}} ON {{replacements}} (table_name, user_id, collection, seq DESC);
