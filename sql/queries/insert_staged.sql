-- Moves the staged rows into the target; created_at and updated_at take the target's defaults.
-- Placeholders: {{table}}, {{staging}}, {{copy_columns}} (src/sink/columns.ts: the columns COPY wrote).
INSERT INTO {{table}} ({{copy_columns}})
SELECT {{copy_columns}}
FROM {{staging}};
