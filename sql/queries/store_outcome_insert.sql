-- Records one store's outcome in one run. $1 run id, $2 table (unqualified), $3 user, $4
-- collection, $5 status, $6 entries, $7 rows loaded, $8 rows skipped, $9 rows reused, $10 error
-- code, $11 error message, $12 source SHA-256, $13 embedding fingerprint, $14 backup path, $15 duration
-- (ms). seq and recorded_at are set here.
-- Placeholder: {{stores}}.
INSERT INTO {{stores}} (run_id, table_name, user_id, collection, status, entries, rows_loaded, rows_skipped, rows_reused,
                        error_code, error_message, source_sha256, embedding_fingerprint, backup_path, duration_ms)
VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
RETURNING recorded_at;
