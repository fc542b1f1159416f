-- Stored embeddings that a re-run can reuse instead of embedding again: rows of one store ($1
-- user, $2 collection) whose text hash is among $3 and that were produced exactly the same way
-- (embedding model $4, PCA model $5 or NULL for none, full fingerprint $6 when not NULL). One row per hash (duplicate texts of a
-- store have the same embedding). The vector travels in its binary send form (big-endian
-- float4 or binary16 values): exact, whatever the text output settings.
-- Placeholders: {{table}}, {{vector_type}} (the column's type: vector_send or halfvec_send).
SELECT DISTINCT ON (content_sha256)
       content_sha256::text AS content_sha256,
       {{vector_type}}_send(embedding) AS embedding
FROM {{table}}
WHERE user_id = $1 AND collection_name = $2
  AND content_sha256 = ANY($3::bpchar[])
  AND embedding_model = $4
  AND pca_model_id IS NOT DISTINCT FROM $5::uuid
  AND ($6::text IS NULL OR embedding_fingerprint = $6::text)
ORDER BY content_sha256, source_index;
