-- Progress of a re-layout: rows of the documents table, and how many of them have their equal
-- side row (the test of relayout_pending.sql). $1-$6: relayout_source.sql.
-- Placeholders: source, {{side}}, {{side_row}}, {{source_row}}.
SELECT count(*)::bigint AS total,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM {{side}} s WHERE s.id = t.id AND s.user_id = t.user_id AND ({{side_row}}) IS NOT DISTINCT FROM ({{source_row}})))::bigint AS done
FROM ({{source}}) t;
