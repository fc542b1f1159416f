-- Which of the given job ids a queue already holds (queued, running, done or archived), so that
-- enqueueing the same plan again starts no run and adds no job. $1 queue name, $2 ids (uuid[]).
-- Placeholder: {{schema}} (pg-boss's schema).
SELECT id::text AS id FROM {{schema}}.job WHERE name = $1 AND id = ANY($2::uuid[])
UNION
SELECT id::text AS id FROM {{schema}}.archive WHERE name = $1 AND id = ANY($2::uuid[]);
