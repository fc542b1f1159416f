-- Ids of rows of the documents table still to copy: no side row of the same id equal to the
-- row as the new layout stores it, column by column (IS NOT DISTINCT FROM over the whole row).
-- This one condition makes the copy resumable (rows copied before an interruption are not
-- returned again) and is its catch-up: rows applications inserted or changed come back here.
-- Keyset-paged by id: $7 last id seen or NULL, $8 page size ($1-$6: relayout_source.sql).
-- Placeholders: source (relayout_source.sql), {{side}}, {{side_row}} (s.*), {{source_row}} (t.*).
SELECT t.id::text AS id
FROM ({{source}}) t
WHERE ($7::uuid IS NULL OR t.id > $7::uuid)
  AND NOT EXISTS (SELECT 1 FROM {{side}} s WHERE s.id = t.id AND s.user_id = t.user_id AND ({{side_row}}) IS NOT DISTINCT FROM ({{source_row}}))
ORDER BY t.id
LIMIT $8;
