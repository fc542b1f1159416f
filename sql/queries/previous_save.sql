-- Copies the rows of one store ($1 user, $2 collection) that a load is about to delete (the
-- tool's own rows, like delete_store.sql; application rows stay where they are) into
-- _previous under the replacing run ($3), every column as it is. Same transaction as the delete.
-- Placeholders: {{previous}}, {{table}}.
INSERT INTO {{previous}} (id, user_id, collection_name, text, embedding, metadata, created_at, updated_at,
                          content_sha256, embedding_model, source_index, pca_model_id, embedding_fingerprint, replaced_by_run)
SELECT id, user_id, collection_name, text, embedding, metadata, created_at, updated_at,
       content_sha256, embedding_model, source_index, pca_model_id, embedding_fingerprint, $3::uuid
FROM {{table}}
WHERE user_id = $1 AND collection_name = $2 AND source_index IS NOT NULL;
