-- The distinct embedding fingerprints of a table's rows, or of one user's ($1; NULL: all rows),
-- with their row counts, most rows first: which model made the vectors a command is about to
-- search (src/run/recordedModel.ts). One user's rows are read through the (user_id,
-- collection_name) index. Rows loaded before fingerprints existed count as NULL.
-- Placeholder: {{table}}.
SELECT embedding_fingerprint AS fingerprint, count(*)::int AS rows
FROM {{table}}
WHERE $1::varchar IS NULL OR user_id = $1::varchar
GROUP BY embedding_fingerprint
ORDER BY rows DESC, fingerprint NULLS FIRST;
