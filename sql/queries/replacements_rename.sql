-- Rollback records follow the `_previous` rows they describe when a swap renames tables
-- ($1 old table name, $2 new one). Placeholder: {{replacements}}.
UPDATE {{replacements}} SET table_name = $2 WHERE table_name = $1;
