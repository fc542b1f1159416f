-- The latest 'ok' outcome of one store ($1 table, unqualified; $2 user; $3 collection) whose load
-- was not rolled back since: after a rollback the table holds the rows of the load before, and a
-- later run must not skip the store as "unchanged since its last successful load".
-- Placeholders: {{stores}}, {{replacements}}, {{fingerprint}} (the fingerprint column: embedding_model before migration 005).
SELECT s.run_id::text AS run_id, s.user_id, s.collection, s.status, s.entries, s.rows_loaded, s.rows_skipped, s.rows_reused,
       s.error_code, s.error_message, s.source_sha256, s.{{fingerprint}} AS embedding_fingerprint, s.backup_path, s.duration_ms, s.recorded_at,
       NULL::timestamptz AS rolled_back_at
FROM {{stores}} s
WHERE s.table_name = $1 AND s.user_id = $2 AND s.collection = $3 AND s.status = 'ok'
  AND NOT EXISTS (SELECT 1 FROM {{replacements}} r
                  WHERE r.run_id = s.run_id AND r.table_name = s.table_name AND r.user_id = s.user_id
                    AND r.collection = s.collection AND r.restored_at IS NOT NULL)
ORDER BY s.seq DESC
LIMIT 1;
