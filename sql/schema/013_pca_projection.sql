-- pgvm_project(regclass, vector): the query projection of a PCA table, in SQL, so that any
-- client can search it with the vector its own embedding model returns:
--   ORDER BY embedding <-> (SELECT pgvm_project('docs', $1))
-- It projects exactly like projectForSearch (src/transform/pcaFit.ts): scale to unit length
-- (l2_normalize), subtract the mean, take the inner product with every component.
--
-- The model's float32 arrays are also kept here as pgvector values (the bytea columns of
-- vector_pca_models cannot be read as vectors in SQL), one row per model in {{pca_means}} and
-- one row per piece of a component in {{pca_components}}. Pieces (piece_dimensions values each,
-- the last one shorter) keep every row inline in its heap page: a whole 3072-dimension component
-- would be TOASTed, and fetching 2000 TOASTed values measured twice as slow as these pieces.
-- src/sink/pcaProjection.ts fills both tables in the transaction that saves the model, so the
-- function follows every change of a table's active model (refit, import, reembed swap and
-- swap-back rename table_name, an abort deletes the side table's models: ON DELETE CASCADE).
--
-- The function is STABLE (it reads tables): in `ORDER BY embedding <-> pgvm_project(…)` a plan
-- that sorts instead of using the HNSW index would call it for every row, which is why the
-- scalar subquery form above (computed once) is the one to use.
-- SET search_path FROM CURRENT: the tables and pgvector's operators resolve as they did when the
-- function was created, whatever the calling session's search_path.
-- Idempotent: IF NOT EXISTS / OR REPLACE. Runs under ensureSchema's models-table lock.
-- Placeholders: {{pca_models}}, {{pca_means}}, {{pca_components}}, {{pgvm_project}}.

CREATE TABLE IF NOT EXISTS {{pca_means}} (
  model_id         uuid PRIMARY KEY REFERENCES {{pca_models}} (id) ON DELETE CASCADE,
  mean             vector NOT NULL,
  piece_dimensions integer NOT NULL CHECK (piece_dimensions > 0)
);

CREATE TABLE IF NOT EXISTS {{pca_components}} (
  model_id  uuid NOT NULL REFERENCES {{pca_means}} (model_id) ON DELETE CASCADE,
  component integer NOT NULL,
  piece     integer NOT NULL,
  v         vector NOT NULL,
  PRIMARY KEY (model_id, component, piece)
) WITH (toast_tuple_target = 8160);

-- MAIN: keep the values in the row (they do not compress) unless a row cannot fit a page at all.
ALTER TABLE {{pca_components}} ALTER COLUMN v SET STORAGE MAIN;

CREATE OR REPLACE FUNCTION {{pgvm_project}}(tbl regclass, query vector) RETURNS vector
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path FROM CURRENT
AS $fn$
DECLARE
  model      uuid;
  dims       integer;
  piece_dims integer;
  centred    vector;
  pieces     vector[];
  table_ns   oid;
  models_ns  oid;
  result     vector;
BEGIN
  SELECT c.relnamespace INTO table_ns FROM pg_class c WHERE c.oid = tbl;
  SELECT c.relnamespace INTO models_ns FROM pg_class c WHERE c.oid = (SELECT m.tableoid FROM {{pca_models}} m LIMIT 1);
  IF models_ns IS NOT NULL AND table_ns IS DISTINCT FROM models_ns THEN
    RAISE EXCEPTION 'table % is in schema %; this pgvm_project serves the tables of schema %', tbl, table_ns::regnamespace, models_ns::regnamespace
      USING ERRCODE = 'invalid_parameter_value', HINT = format('call %I.pgvm_project', table_ns::regnamespace);
  END IF;
  SELECT m.id, m.source_dimensions INTO model, dims
    FROM {{pca_models}} m, pg_class c
   WHERE c.oid = tbl AND m.table_name = c.relname AND m.active;
  IF model IS NULL THEN
    RAISE EXCEPTION 'table % has no PCA model: its embeddings are stored as the model produced them', tbl
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'send the query vector itself (ORDER BY embedding <=> $1); pgvm_project is for tables loaded with --reduce pca';
  END IF;
  IF vector_dims(query) <> dims THEN
    RAISE EXCEPTION 'the query vector has % dimensions; the PCA model of table % projects %-dimension vectors', vector_dims(query), tbl, dims
      USING ERRCODE = 'data_exception', HINT = 'embed the query with the model the table was migrated with';
  END IF;
  SELECT l2_normalize(query) - p.mean, p.piece_dimensions INTO centred, piece_dims FROM {{pca_means}} p WHERE p.model_id = model;
  IF centred IS NULL THEN
    RAISE EXCEPTION 'PCA model % of table % has no projection rows (it was saved by an earlier version)', model, tbl
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'run pgvector-migrate migrate on the table once more: it adds them';
  END IF;
  SELECT array_agg(subvector(centred, s * piece_dims + 1, least(piece_dims, dims - s * piece_dims)) ORDER BY s) INTO pieces
    FROM generate_series(0, (dims - 1) / piece_dims) AS s;
  SELECT array_agg(y ORDER BY component)::vector INTO result
    FROM (SELECT c.component, -sum(pieces[c.piece + 1] <#> c.v) AS y
            FROM {{pca_components}} c
           WHERE c.model_id = model
           GROUP BY c.component) AS projected;
  RETURN result;
END
$fn$;
