-- Models follow their rows when a swap renames tables ($1 old table name, $2 new one).
-- Placeholder: {{pca_models}}.
UPDATE {{pca_models}} SET table_name = $2 WHERE table_name = $1;
