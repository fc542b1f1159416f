-- The target table, compatible with the original app's PgVectorStore (its eight columns, same
-- names and types) plus three provenance columns the migration writes and verifies against.
-- Idempotent: every statement is IF NOT EXISTS. The pca_model_id column is added by
-- 004_documents_pca_model.sql, and embedding_fingerprint by 006_documents_fingerprint.sql, for new
-- tables and for tables created before they existed alike.
-- Placeholders (validated and quoted by src/sink/identifiers.ts): {{table}}, {{vector_type}}
-- (vector, or halfvec for float16 storage), {{dimensions}}, {{user_collection_index}}.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS {{table}} (
  id              uuid PRIMARY KEY,
  user_id         varchar(255) NOT NULL,
  collection_name varchar(255) NOT NULL,
  text            text NOT NULL,
  embedding       {{vector_type}}({{dimensions}}) NOT NULL,
  metadata        jsonb DEFAULT '{}',
  created_at      timestamptz DEFAULT now(),
  updated_at      timestamptz DEFAULT now(),
  content_sha256  char(64) NOT NULL,
  embedding_model text NOT NULL,
  source_index    integer NOT NULL
);

-- Every query of the app and of this tool filters on one user's (collection's) rows.
CREATE INDEX IF NOT EXISTS {{user_collection_index}} ON {{table}} (user_id, collection_name);
