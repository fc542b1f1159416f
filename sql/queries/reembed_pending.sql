-- Rows of the documents table that still need their new vector: no row of the same id in the side
-- table with the same text and the job's fingerprint. This one condition makes the job resumable
-- (rows done before an interruption are not returned again) and is also its catch-up: rows that
-- applications inserted, or whose text they changed, after the job started come back here.
-- Keyset-paged by id. $1 user ids (text[]) or NULL for all, $2 last id seen or NULL, $3 the job's
-- fingerprint, $4 page size. Placeholders: {{table}}, {{side}}.
SELECT m.id::text AS id, m.user_id, m.collection_name, m.text, m.content_sha256::text AS content_sha256
FROM {{table}} m
WHERE ($1::text[] IS NULL OR m.user_id = ANY($1::text[]))
  AND ($2::uuid IS NULL OR m.id > $2::uuid)
  AND NOT EXISTS (SELECT 1 FROM {{side}} s WHERE s.id = m.id AND s.text = m.text AND s.embedding_fingerprint = $3)
ORDER BY m.id
LIMIT $4;
