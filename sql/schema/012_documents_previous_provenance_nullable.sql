-- The same for `<table>_previous` (005), so that it can hold every column as the documents table
-- has it. A file of its own because the two tables are created at different times (like 006 and
-- 007). src/sink/schema.ts runs this only when the catalog shows one of the columns NOT NULL.
-- Placeholder: {{previous}}.

ALTER TABLE {{previous}}
  ALTER COLUMN content_sha256 DROP NOT NULL,
  ALTER COLUMN embedding_model DROP NOT NULL,
  ALTER COLUMN source_index DROP NOT NULL;
