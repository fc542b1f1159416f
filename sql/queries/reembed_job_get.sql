-- The table's job in state $2 ('running': the unfinished one; 'swapped': the latest swap), or no row.
-- $1 table name. Placeholder: {{reembeds}}.
SELECT id::text AS id, table_name, side_table, model, fingerprint, dimensions, vector_type, distance, pca_model_id::text AS pca_model_id,
       options, started_at, status, previous_table, swapped_at, finished_at
FROM {{reembeds}}
WHERE table_name = $1 AND status = $2
ORDER BY coalesce(swapped_at, started_at) DESC
LIMIT 1;
