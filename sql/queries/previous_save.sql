-- Copies the rows of one store ($1 user, $2 collection) that a load is about to delete (the
-- tool's own rows, like delete_store.sql; application rows stay where they are) into
-- _previous under the replacing run ($3), every column as it is. Same transaction as the delete.
-- Placeholders: {{previous}}, {{table}}, {{row_columns}} (src/sink/columns.ts: every column of the row).
INSERT INTO {{previous}} ({{row_columns}}, replaced_by_run)
SELECT {{row_columns}}, $3::uuid
FROM {{table}}
WHERE user_id = $1 AND collection_name = $2 AND source_index IS NOT NULL;
