-- The store each of the ids $1 belongs to (ids not in the table give no row), so verification can
-- tell a row of one store sitting under another user.
-- Placeholder: {{table}}.
SELECT id::text AS id, user_id, collection_name
FROM {{table}}
WHERE id = ANY($1::uuid[])
-- The order Sink.readRowsByIds promises (a partitioned table returns partition by partition).
ORDER BY id;
