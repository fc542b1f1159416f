-- Moves job $1 to status $2. A swap records the retired table ($3) and when; a swap-back ($2 =
-- 'running') clears both, so the job's side table can be checked and swapped in again; an abort
-- records when it ended. Placeholder: {{reembeds}}.
UPDATE {{reembeds}}
SET status = $2,
    previous_table = $3,
    swapped_at = CASE WHEN $2 = 'swapped' THEN now() ELSE NULL END,
    finished_at = CASE WHEN $2 = 'running' THEN NULL ELSE now() END
WHERE id = $1::uuid;
