-- Rows per store in the documents table and in the side table, with the side rows that are not
-- exactly their table row in the new layout (changed or deleted since they were copied).
-- $1-$6: relayout_source.sql. Placeholders: {{table}}, source, {{side}}, {{side_row}}, {{source_row}}.
SELECT user_id, collection_name,
       coalesce(m.rows, 0)::bigint AS table_rows,
       coalesce(s.rows, 0)::bigint AS side_rows,
       coalesce(s.stale, 0)::bigint AS stale_rows
FROM (SELECT user_id, collection_name, count(*) AS rows FROM {{table}} GROUP BY user_id, collection_name) m
FULL JOIN (
  SELECT s.user_id, s.collection_name, count(*) AS rows,
         count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ({{source}}) t WHERE t.id = s.id AND t.user_id = s.user_id AND ({{side_row}}) IS NOT DISTINCT FROM ({{source_row}}))) AS stale
  FROM {{side}} s GROUP BY s.user_id, s.collection_name
) s USING (user_id, collection_name)
ORDER BY user_id, collection_name;
