-- The replacement of the same store recorded after replacement $4 (by seq) and not rolled back:
-- it must be rolled back first, or rolling back $4 would silently undo it too.
-- $1 table (unqualified), $2 user, $3 collection, $4 seq.
-- Placeholder: {{replacements}}.
SELECT run_id::text AS run_id
FROM {{replacements}}
WHERE table_name = $1 AND user_id = $2 AND collection = $3 AND seq > $4 AND restored_at IS NULL
ORDER BY seq DESC
LIMIT 1;
