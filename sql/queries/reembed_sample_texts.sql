-- A repeatable pseudo-random sample of the table's texts (for fitting PCA on the new model's
-- vectors): ordered by a hash of id and seed $1, at most $2 rows.
-- Placeholder: {{table}}.
SELECT text FROM {{table}} ORDER BY md5(id::text || $1::text) LIMIT $2;
