-- Rows replaced by a run, kept so that the run can be rolled back: `<table>_previous` (shortened
-- with a hash when that exceeds 63 bytes: src/sink/identifiers.ts previousTable). Same columns as
-- the documents table, same embedding type and dimension, plus the replacing run and when.
-- Columns are nullable where the documents table's are (metadata, created_at, updated_at,
-- pca_model_id, the provenance columns: 012 for tables created before) and have no defaults: every value is copied as it was, NULLs included, and put
-- back the same way. No foreign keys: the rows only ever return to the documents table, whose
-- constraints check them then. The same id can be saved by several runs, hence the key.
-- embedding_fingerprint is added by 007_documents_previous_fingerprint.sql (as 006 adds it to the
-- documents table), for new tables and for tables created before it existed alike.
-- src/sink/schema.ts runs this file only when the table is missing (CREATE INDEX IF NOT EXISTS
-- would otherwise lock it behind any load writing to it).
-- Placeholders: {{previous}}, {{vector_type}}, {{dimensions}}, {{previous_store_index}}.

CREATE TABLE IF NOT EXISTS {{previous}} (
  id              uuid NOT NULL,
  user_id         varchar(255) NOT NULL,
  collection_name varchar(255) NOT NULL,
  text            text NOT NULL,
  embedding       {{vector_type}}({{dimensions}}) NOT NULL,
  metadata        jsonb,
  created_at      timestamptz,
  updated_at      timestamptz,
  content_sha256  char(64),
  embedding_model text,
  source_index    integer,
  pca_model_id    uuid,
  replaced_by_run uuid NOT NULL,
  replaced_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (replaced_by_run, id)
);

-- Rollback and storesReplacedBy read one run's rows of one store.
CREATE INDEX IF NOT EXISTS {{previous_store_index}} ON {{previous}} (replaced_by_run, user_id, collection_name);
