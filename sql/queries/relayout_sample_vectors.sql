-- A repeatable pseudo-random sample of the table's stored vectors (to fit the PCA model of a
-- re-layout): ordered by a hash of id and seed $1, at most $2 rows, as text (parsed by the sink).
-- Placeholder: {{table}}.
SELECT embedding::text AS embedding FROM {{table}} ORDER BY md5(id::text || $1::text) LIMIT $2;
