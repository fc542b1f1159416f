-- The documents table's rows as the new layout stores them (spliced as a subquery into the other
-- relayout_*.sql files, which number their own parameters from $5): every column as it is, but
-- the embedding cast to the new type and dimension, truncated to its first {{dimensions}} numbers
-- and re-normalized when $1 (as the tool truncates: transform/truncate.ts), and the fingerprint
-- of the new space: the stored fingerprints $2 become $3 (same position); any other is kept
-- when $4, else NULL (a vector whose dimension changed no longer is in the space it named).
-- Placeholders: {{table}}, {{dimensions}}, {{vector_type}}, and from src/sink/columns.ts
-- {{relayout_kept}} (every column but those two, as m.*). The files splicing this one name its
-- placeholder `source` in their comments, without braces: it would be filled there too, with
-- several lines, the second of which would no longer be a comment.
SELECT {{relayout_kept}},
       CASE WHEN $1::boolean THEN l2_normalize(subvector(m.embedding, 1, {{dimensions}}))::{{vector_type}}({{dimensions}})
            ELSE m.embedding::{{vector_type}}({{dimensions}})
       END AS embedding,
       CASE WHEN array_position($2::text[], m.embedding_fingerprint) IS NOT NULL
            THEN ($3::text[])[array_position($2::text[], m.embedding_fingerprint)]
            WHEN $4::boolean THEN m.embedding_fingerprint
       END AS embedding_fingerprint
FROM {{table}} m
