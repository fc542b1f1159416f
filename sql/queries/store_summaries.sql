-- What verification needs of one store's rows ($1 user, $2 collection), without the embeddings.
-- text_sha256 is computed here from the text as stored now, so a text changed behind the tool's
-- back no longer matches content_sha256 (the hash of the source text).
-- Placeholder: {{table}}.
SELECT id::text AS id,
       user_id,
       collection_name,
       source_index,
       content_sha256::text AS content_sha256,
       encode(sha256(convert_to(text, 'UTF8')), 'hex') AS text_sha256,
       embedding_model,
       pca_model_id::text AS pca_model_id
FROM {{table}}
WHERE user_id = $1 AND collection_name = $2
ORDER BY source_index, id;
