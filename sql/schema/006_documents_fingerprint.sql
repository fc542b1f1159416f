-- Canonical JSON of everything that produced each row's embedding (model id, model file hash,
-- pooling, normalization, dimensions, column type, PCA model): rows of one table must all share
-- it, so a mix of fingerprints shows vectors that cannot be compared with each other. NULL: the
-- row was loaded before fingerprints existed. Added with ALTER, like 004's pca_model_id, so that
-- tables created by an earlier version get it the same way as new ones. src/sink/schema.ts runs
-- this only when the catalog shows the column missing (ALTER TABLE takes an ACCESS EXCLUSIVE lock
-- even when it ends up skipping); IF NOT EXISTS covers a concurrent creator.
-- Placeholder: {{table}}.

ALTER TABLE {{table}} ADD COLUMN IF NOT EXISTS embedding_fingerprint text;
