-- Jobs of one table's work by queue and state (pg-boss's job table and its archive, where done
-- jobs move after 12 h), for status and status --watch. $1 the table's name as the jobs carry it
-- (store and page jobs: data.table; the finish job: data.target.table). Placeholder: {{schema}}.
SELECT name, state::text AS state, count(*)::int AS jobs
FROM (
  SELECT name, state, data FROM {{schema}}.job
  UNION ALL
  SELECT name, state, data FROM {{schema}}.archive
) j
WHERE name LIKE 'pgvector-migrate.%' AND (data->>'table' = $1 OR data->'target'->>'table' = $1)
GROUP BY 1, 2;
