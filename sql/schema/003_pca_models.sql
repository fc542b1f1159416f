-- Fitted PCA models, one table per schema shared by that schema's documents tables (rows are
-- keyed by table_name, the documents table's unqualified name). A table keeps projecting with
-- its active model on later runs; a refit stores a new model and deactivates the old one, which
-- stays for reproducibility (rows record the model that projected them: pca_model_id).
-- The large float32 arrays are bytea of little-endian IEEE 754 values, so they come back bit for
-- bit on every driver; the short float8 values stay readable in SQL (explained share:
-- (SELECT sum(x) FROM unnest(explained_variance) x) / total_variance), and the sink reads them
-- back exactly through float8send (queries/pca_model_active.sql), whatever extra_float_digits is.
-- Idempotent: every statement is IF NOT EXISTS.
-- Placeholders: {{pca_models}}, {{pca_models_active_index}}.

CREATE TABLE IF NOT EXISTS {{pca_models}} (
  id                 uuid PRIMARY KEY,
  table_name         text NOT NULL,
  active             boolean NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  source_dimensions  integer NOT NULL CHECK (source_dimensions > 0),
  target_dimensions  integer NOT NULL CHECK (target_dimensions > 0 AND target_dimensions <= source_dimensions),
  -- float32 LE, source_dimensions values
  mean               bytea NOT NULL CHECK (octet_length(mean) = 4::bigint * source_dimensions),
  -- float32 LE, target_dimensions x source_dimensions, row-major (one component per row)
  components         bytea NOT NULL CHECK (octet_length(components) = 4::bigint * target_dimensions * source_dimensions),
  -- variance along each component, target_dimensions values
  explained_variance float8[] NOT NULL CHECK (array_ndims(explained_variance) = 1
                                              AND cardinality(explained_variance) = target_dimensions
                                              AND array_position(explained_variance, NULL) IS NULL),
  total_variance     float8 NOT NULL,
  sample_size        integer NOT NULL CHECK (sample_size >= 0),
  method             text NOT NULL,
  fit                jsonb NOT NULL DEFAULT '{}',
  -- float32 LE, evaluation_rows x source_dimensions: held-out vectors for the quality figures
  evaluation         bytea NOT NULL CHECK (octet_length(evaluation) = 4::bigint * evaluation_rows * source_dimensions),
  evaluation_rows    integer NOT NULL CHECK (evaluation_rows >= 0)
);

-- At most one active model per documents table: two concurrent fits cannot both win.
CREATE UNIQUE INDEX IF NOT EXISTS {{pca_models_active_index}} ON {{pca_models}} (table_name) WHERE active;
