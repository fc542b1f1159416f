-- The PCA model that projected each row (NULL: the embedding was stored as produced). Added with
-- ALTER rather than in 001's CREATE TABLE so that tables created before this column existed (by
-- an earlier version of this tool) get it the same way as new ones. src/sink/schema.ts runs this
-- only when the catalog shows the column missing (ALTER TABLE takes an ACCESS EXCLUSIVE lock even
-- when it ends up skipping); IF NOT EXISTS covers a concurrent creator.
-- No ON DELETE action: a model still referenced by rows cannot be deleted.
-- Placeholders: {{table}}, {{pca_models}}.

ALTER TABLE {{table}} ADD COLUMN IF NOT EXISTS pca_model_id uuid REFERENCES {{pca_models}} (id);
