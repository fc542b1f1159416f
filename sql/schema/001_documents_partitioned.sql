-- The target table of 001_documents.sql, hash-partitioned on user_id (migrate --partitions N):
-- every query of the app and of this tool reads or writes one user's rows, so each of them goes
-- to one partition, and a store's replacement locks and rewrites only that partition (and its
-- HNSW index). Same columns as 001, except that the primary key must contain the partition key:
-- (id, user_id). Ids are UUID v5 of the user's store and entry, so `id` stays unique in practice;
-- PostgreSQL can no longer enforce that across partitions (an application doing
-- INSERT … ON CONFLICT (id) must say ON CONFLICT (id, user_id)).
-- The partitions themselves: 008_documents_partition.sql, one per remainder. Indexes created on
-- this parent (the one below, 002's HNSW index) are created on every partition, each its own.
-- Runs only when the table does not exist yet (src/sink/schema.ts): an existing table keeps its
-- layout. Placeholders: {{table}}, {{vector_type}}, {{dimensions}}, {{user_collection_index}}.

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
  content_sha256  char(64) NOT NULL,
  embedding_model text NOT NULL,
  source_index    integer NOT NULL,
  PRIMARY KEY (id, user_id)
) PARTITION BY HASH (user_id);

CREATE INDEX IF NOT EXISTS {{user_collection_index}} ON {{table}} (user_id, collection_name);
