-- The distinct stores, (user, collection), that have rows in the table.
-- Placeholder: {{table}}.
SELECT DISTINCT user_id, collection_name
FROM {{table}}
ORDER BY user_id, collection_name;
