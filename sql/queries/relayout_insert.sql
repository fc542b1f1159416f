-- A page of rows into the side table, as the new layout stores them, read now (a row deleted
-- since it was listed is left out). $7 the page's ids ($1-$6: relayout_source.sql).
-- Placeholders: {{side}}, source, {{row_columns}}, {{source_row}} (t.*).
INSERT INTO {{side}} ({{row_columns}})
SELECT {{source_row}}
FROM ({{source}}) t
WHERE t.id = ANY($7::uuid[]);
