-- Re-embedding jobs (`reembed`): each fills a side table next to a documents table with vectors of
-- a new model, then swaps it in. The row is how an interrupted job is found and resumed, how an
-- abort knows what to remove, and how a swap-back knows which retired table to restore.
-- status: 'running' (side table being filled or ready to swap), 'swapped' (the side table is now
-- the documents table, the old one kept as previous_table), 'aborted' (side table removed).
-- Placeholders: {{reembeds}}, {{reembeds_running_index}}.

CREATE TABLE IF NOT EXISTS {{reembeds}} (
  id              uuid PRIMARY KEY,
  table_name      text NOT NULL,
  side_table      text NOT NULL,
  -- the model as given (hub id or directory) and the full fingerprint the side table's rows carry
  model           text NOT NULL,
  fingerprint     text NOT NULL,
  dimensions      integer NOT NULL CHECK (dimensions > 0),
  vector_type     text NOT NULL CHECK (vector_type IN ('vector', 'halfvec')),
  distance        text NOT NULL CHECK (distance IN ('cosine', 'l2')),
  pca_model_id    uuid,
  options         jsonb NOT NULL DEFAULT '{}',
  started_at      timestamptz NOT NULL DEFAULT now(),
  status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'swapped', 'aborted')),
  previous_table  text,
  swapped_at      timestamptz,
  finished_at     timestamptz
);

-- At most one unfinished job per documents table: two jobs would write the same side table.
CREATE UNIQUE INDEX IF NOT EXISTS {{reembeds_running_index}} ON {{reembeds}} (table_name) WHERE status = 'running';
