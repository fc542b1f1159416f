-- migration_stores.embedding_model holds the embedding fingerprint of the run (canonical JSON of
-- model, model file hash, pooling, dimensions, column type, PCA model: src/transform/embeddingSpace.ts
-- serializeSpace), not a model label like the documents table's embedding_model: renamed for
-- what it holds. A rename in place: the outcomes recorded so far keep their values. Idempotent
-- like the others: a ledger renamed already is left as it is.
-- Placeholder: {{stores}}.

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute
             WHERE attrelid = '{{stores}}'::regclass AND attname = 'embedding_model' AND NOT attisdropped) THEN
    ALTER TABLE {{stores}} RENAME COLUMN embedding_model TO embedding_fingerprint;
  END IF;
END
$$;
