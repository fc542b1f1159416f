-- Puts back the rows of one store ($1 user, $2 collection) that run $3 replaced, every column as
-- it was saved (ids, embeddings, metadata, created_at and updated_at included).
-- Placeholders: {{table}}, {{previous}}, {{row_columns}} (src/sink/columns.ts: every column of the row).
INSERT INTO {{table}} ({{row_columns}})
SELECT {{row_columns}}
FROM {{previous}}
WHERE replaced_by_run = $3::uuid AND user_id = $1 AND collection_name = $2;
