-- The documents table's rows as the new layout stores them (spliced as a subquery into the other
-- relayout_*.sql files, which number their own parameters from $7): every column as it is but
-- three. The embedding, by $1: 'cast' to the new type and dimension; 'truncate' to its first
-- {{dimensions}} numbers, re-normalized (as transform/truncate.ts does); 'pca' projected by the
-- side table's active PCA model with {{pgvm_project}} (schema/013: exactly as queries are
-- projected), the side table named by $6. pca_model_id: $5 when given (the PCA model), else kept.
-- The fingerprint of the new space: the stored fingerprints $2 become $3 (same position); any
-- other is kept when $4, else NULL (a vector whose dimension changed no longer is in the space it named).
-- Placeholders: {{table}}, {{dimensions}}, {{vector_type}}, {{pgvm_project}}, and from
-- src/sink/columns.ts {{relayout_kept}} (every column but those three, as m.*). The files splicing
-- this one name its placeholder `source` in their comments, without braces: it would be filled
-- there too, with several lines, the second of which would no longer be a comment.
SELECT {{relayout_kept}},
       CASE $1::text
            WHEN 'truncate' THEN l2_normalize(subvector(m.embedding, 1, {{dimensions}}))::{{vector_type}}({{dimensions}})
            WHEN 'pca' THEN {{pgvm_project}}(to_regclass($6::text), m.embedding::vector)::{{vector_type}}({{dimensions}})
            ELSE m.embedding::{{vector_type}}({{dimensions}})
       END AS embedding,
       coalesce($5::uuid, m.pca_model_id) AS pca_model_id,
       CASE WHEN array_position($2::text[], m.embedding_fingerprint) IS NOT NULL
            THEN ($3::text[])[array_position($2::text[], m.embedding_fingerprint)]
            WHEN $4::boolean THEN m.embedding_fingerprint
       END AS embedding_fingerprint
FROM {{table}} m
