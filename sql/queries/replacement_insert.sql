-- Records that run $1 replaced one store ($2 table, unqualified; $3 user; $4 collection) and
-- saved $5 rows of it in _previous. replaced_at is now(), like the saved rows' replaced_at.
-- Placeholder: {{replacements}}.
INSERT INTO {{replacements}} (run_id, table_name, user_id, collection, rows_saved)
VALUES ($1::uuid, $2, $3, $4, $5);
