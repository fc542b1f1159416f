-- The provenance columns accept rows written by applications: the original app's INSERT names
-- only id, user_id, collection_name, text, embedding and metadata, which failed while these were
-- NOT NULL without defaults. Tool rows stay distinguishable (source_index IS NOT NULL). For tables
-- created before 001 declared them nullable. On a partitioned table the ALTER reaches every
-- partition. DROP NOT NULL of a nullable column changes nothing, but ALTER TABLE takes an ACCESS
-- EXCLUSIVE lock all the same: src/sink/schema.ts runs this only when the catalog shows one of the
-- columns NOT NULL.
-- Placeholder: {{table}}.

ALTER TABLE {{table}}
  ALTER COLUMN content_sha256 DROP NOT NULL,
  ALTER COLUMN embedding_model DROP NOT NULL,
  ALTER COLUMN source_index DROP NOT NULL;
