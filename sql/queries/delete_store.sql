-- Removes one store's rows ($1 user, $2 collection) before its staged rows are inserted (or
-- rollback restores the saved ones): only rows this tool wrote (source_index NOT NULL). Rows the
-- application inserted into the store since are never deleted.
-- Placeholder: {{table}}.
DELETE FROM {{table}} WHERE user_id = $1 AND collection_name = $2 AND source_index IS NOT NULL;
