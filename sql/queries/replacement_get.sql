-- What run $4 already recorded for one store ($1 table, unqualified; $2 user; $3 collection):
-- no row when it has not replaced the store yet. FOR UPDATE: a rollback or a purge of the same
-- replacement waits for this transaction (and this one for theirs), so they never interleave.
-- Placeholder: {{replacements}}.
SELECT seq, rows_saved, restored_at, purged_at
FROM {{replacements}}
WHERE table_name = $1 AND user_id = $2 AND collection = $3 AND run_id = $4::uuid
FOR UPDATE;
