-- doctor: rows whose embedding is all zeros (an embedder that failed silently, a padding row).
-- Cosine distance to such a vector is undefined (pgvector returns NaN), so they never rank
-- sensibly. The norm is summed in double precision by pgvector, so it is 0 only when every
-- element is (±)0. $1: how many example ids to return, smallest ids first.
-- Placeholders: {{table}}, {{norm}} (vector_norm for vector, l2_norm for halfvec: the column's
-- own type, no cast).
SELECT (SELECT count(*)::int FROM {{table}} WHERE {{norm}}(embedding) = 0) AS rows,
       ARRAY(SELECT id::text FROM {{table}} WHERE {{norm}}(embedding) = 0 ORDER BY id LIMIT $1) AS examples;
