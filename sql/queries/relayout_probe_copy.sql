-- The dry run's timed sample: the first $7 rows by id copied into the probe as the re-layout
-- copies them ($1-$6: relayout_source.sql). Placeholders: {{probe}}, source, {{row_columns}}, {{source_row}}.
INSERT INTO {{probe}} ({{row_columns}})
SELECT {{source_row}}
FROM ({{source}}) t
ORDER BY t.id
LIMIT $7;
