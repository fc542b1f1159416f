-- Removes one store's rows ($1 user, $2 collection) before its staged rows are inserted.
-- Placeholder: {{table}}.
DELETE FROM {{table}} WHERE user_id = $1 AND collection_name = $2;
