-- Moves the staged rows into the target; created_at and updated_at take the target's defaults.
-- Placeholders: {{table}}, {{staging}}.
INSERT INTO {{table}} (id, user_id, collection_name, text, embedding, metadata, content_sha256, embedding_model, source_index, pca_model_id, embedding_fingerprint)
SELECT id, user_id, collection_name, text, embedding, metadata, content_sha256, embedding_model, source_index, pca_model_id, embedding_fingerprint
FROM {{staging}};
