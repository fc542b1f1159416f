-- One run of the ledger ($1: its id), or no row.
-- Placeholder: {{runs}}.
SELECT id::text AS id, started_at, finished_at, tool_version, options, status
FROM {{runs}}
WHERE id = $1::uuid;
