-- The latest outcome of each store of table $1 (unqualified), optionally of one user ($2) and/or
-- one collection ($3), ordered by store. "Latest" is the highest seq, never a timestamp (ties).
-- rolled_back_at: when the run's replacement of that store was rolled back (NULL if it was not,
-- or if the run did not replace it).
-- Placeholders: {{stores}}, {{replacements}}, {{fingerprint}} (the fingerprint column: embedding_model before migration 005).
SELECT DISTINCT ON (s.user_id, s.collection)
       s.run_id::text AS run_id, s.user_id, s.collection, s.status, s.entries, s.rows_loaded, s.rows_skipped, s.rows_reused,
       s.error_code, s.error_message, s.source_sha256, s.{{fingerprint}} AS embedding_fingerprint, s.backup_path, s.duration_ms, s.recorded_at,
       r.restored_at AS rolled_back_at
FROM {{stores}} s
LEFT JOIN {{replacements}} r
       ON r.run_id = s.run_id AND r.table_name = s.table_name AND r.user_id = s.user_id AND r.collection = s.collection
WHERE s.table_name = $1
  AND ($2::text IS NULL OR s.user_id = $2::text)
  AND ($3::text IS NULL OR s.collection = $3::text)
ORDER BY s.user_id, s.collection, s.seq DESC;
