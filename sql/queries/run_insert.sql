-- Starts a run: $1 id, $2 tool version, $3 options (JSON text). started_at and status take their
-- defaults (now(), 'running').
-- Placeholder: {{runs}}.
INSERT INTO {{runs}} (id, tool_version, options)
VALUES ($1::uuid, $2, $3::jsonb)
RETURNING id::text AS id, started_at, finished_at, tool_version, options, status;
