-- Records a re-embedding job as running. Fails on the unique index when the table already has a
-- running job (the caller resumes that one instead).
-- $1 id, $2 table name, $3 side table name, $4 model, $5 fingerprint, $6 dimensions,
-- $7 vector type, $8 distance, $9 PCA model id or NULL, $10 options (jsonb).
-- Placeholder: {{reembeds}}.
INSERT INTO {{reembeds}} (id, table_name, side_table, model, fingerprint, dimensions, vector_type, distance, pca_model_id, options)
VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9::uuid, $10::jsonb)
RETURNING id::text AS id, table_name, side_table, model, fingerprint, dimensions, vector_type, distance, pca_model_id::text AS pca_model_id,
          options, started_at, status, previous_table, swapped_at, finished_at;
