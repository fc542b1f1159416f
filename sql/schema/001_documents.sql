-- The target table, compatible with the original app's PgVectorStore (its eight columns, same
-- names and types) plus three provenance columns the migration writes and verifies against.
-- They are nullable: the application keeps writing rows with its own INSERT of the eight columns,
-- and such a row has none of them. A row with source_index NOT NULL is one this tool wrote; the
-- tool never deletes or changes the others (011_documents_provenance_nullable.sql lifts NOT NULL
-- from tables created before).
-- Idempotent: every statement is IF NOT EXISTS. The pca_model_id column is added by
-- 004_documents_pca_model.sql, and embedding_fingerprint by 006_documents_fingerprint.sql, for new
-- tables and for tables created before they existed alike.
--
-- Two layouts (src/sink/schema.ts and tableLayout.ts fill {{primary_key}} and {{partitioning}}):
-- - plain: PRIMARY KEY (id), no partitioning;
-- - hash-partitioned on user_id (migrate --partitions N): every query of the app and of this tool
--   reads or writes one user's rows, so each goes to one partition, and a store's replacement
--   locks and rewrites only that partition (and its HNSW index). The primary key must then
--   contain the partition key: (id, user_id). Ids are UUID v5 of the user's store and entry, so
--   `id` stays unique in practice; PostgreSQL can no longer enforce that across partitions (an
--   application doing INSERT … ON CONFLICT (id) must say ON CONFLICT (id, user_id)). The
--   partitions themselves: 008_documents_partition.sql. Indexes created on the parent (the one
--   below, 002's HNSW index) are created on every partition, each its own. The partitioned form
--   runs only when the table does not exist yet: an existing table keeps its layout.
-- Placeholders (validated and quoted by src/sink/identifiers.ts): {{table}}, {{vector_type}}
-- (vector, or halfvec for float16 storage), {{dimensions}}, {{user_collection_index}},
-- {{primary_key}}, {{partitioning}}.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS {{table}} (
  id              uuid NOT NULL,
  user_id         varchar(255) NOT NULL,
  collection_name varchar(255) NOT NULL,
  text            text NOT NULL,
  embedding       {{vector_type}}({{dimensions}}) NOT NULL,
  metadata        jsonb DEFAULT '{}',
  created_at      timestamptz DEFAULT now(),
  updated_at      timestamptz DEFAULT now(),
  content_sha256  char(64),
  embedding_model text,
  source_index    integer,
  PRIMARY KEY ({{primary_key}})
) {{partitioning}};

-- Every query of the app and of this tool filters on one user's (collection's) rows.
CREATE INDEX IF NOT EXISTS {{user_collection_index}} ON {{table}} (user_id, collection_name);
