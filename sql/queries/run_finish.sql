-- Ends run $1 with status $2 ('succeeded', 'failed' or 'interrupted'). No row: the run is not in the ledger.
-- Placeholder: {{runs}}.
UPDATE {{runs}} SET status = $2, finished_at = now()
WHERE id = $1::uuid
RETURNING id::text AS id, started_at, finished_at, tool_version, options, status;
