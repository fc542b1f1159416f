-- The stores of table $1 (unqualified) that run $2 replaced and that can still be rolled back
-- (not rolled back yet, saved rows not purged), in store order.
-- Placeholder: {{replacements}}.
SELECT user_id, collection
FROM {{replacements}}
WHERE table_name = $1 AND run_id = $2::uuid AND restored_at IS NULL AND purged_at IS NULL
ORDER BY user_id, collection;
