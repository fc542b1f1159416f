-- Puts back the rows of one store ($1 user, $2 collection) that run $3 replaced, every column as
-- it was saved (ids, embeddings, metadata, created_at and updated_at included).
-- Placeholders: {{table}}, {{previous}}.
INSERT INTO {{table}} (id, user_id, collection_name, text, embedding, metadata, created_at, updated_at,
                       content_sha256, embedding_model, source_index, pca_model_id, embedding_fingerprint)
SELECT id, user_id, collection_name, text, embedding, metadata, created_at, updated_at,
       content_sha256, embedding_model, source_index, pca_model_id, embedding_fingerprint
FROM {{previous}}
WHERE replaced_by_run = $3::uuid AND user_id = $1 AND collection_name = $2;
