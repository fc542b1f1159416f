-- Progress of a job: rows of the documents table (of users $1, or all when NULL) and how many of
-- them already have their new vector in the side table (same test as reembed_pending.sql).
-- $2 the job's fingerprint. Placeholders: {{table}}, {{side}}.
SELECT count(*)::bigint AS total,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM {{side}} s WHERE s.id = m.id AND s.text = m.text AND s.embedding_fingerprint = $2))::bigint AS done
FROM {{table}} m
WHERE ($1::text[] IS NULL OR m.user_id = ANY($1::text[]));
