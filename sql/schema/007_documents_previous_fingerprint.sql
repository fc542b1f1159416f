-- The same column on `<table>_previous` (005), so that a rollback puts every row back with the
-- fingerprint it had. Nullable, no default: values are copied as they were, NULLs included. A
-- file of its own because the two tables get the column at different times: a previous-rows table
-- created by an earlier version may lack it while the documents table already has it, or the
-- reverse. src/sink/schema.ts runs this only when the column is missing (or the table was just
-- created by 005).
-- Placeholder: {{previous}}.

ALTER TABLE {{previous}} ADD COLUMN IF NOT EXISTS embedding_fingerprint text;
