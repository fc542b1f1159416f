-- Rows per store in the documents table and in the side table, with the side rows that do not
-- carry the job's fingerprint ($1) and those whose text differs from the documents table's row.
-- Placeholders: {{table}}, {{side}}.
SELECT user_id, collection_name,
       coalesce(m.rows, 0)::bigint AS table_rows,
       coalesce(s.rows, 0)::bigint AS side_rows,
       coalesce(s.stale, 0)::bigint AS stale_rows
FROM (SELECT user_id, collection_name, count(*) AS rows FROM {{table}} GROUP BY user_id, collection_name) m
FULL JOIN (
  SELECT s.user_id, s.collection_name, count(*) AS rows,
         count(*) FILTER (WHERE s.embedding_fingerprint IS DISTINCT FROM $1
                            OR NOT EXISTS (SELECT 1 FROM {{table}} t WHERE t.id = s.id AND t.text = s.text)) AS stale
  FROM {{side}} s GROUP BY s.user_id, s.collection_name
) s USING (user_id, collection_name)
ORDER BY user_id, collection_name;
