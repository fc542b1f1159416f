-- Removes an unfinished re-embedding's side table (never a documents table: the caller checks).
-- Placeholder: {{table}}.
DROP TABLE IF EXISTS {{table}};
