-- Columns an application may have changed without changing the text (metadata, timestamps, even
-- the store a row is filed under): copied onto the side rows just before the swap, under the lock.
-- Placeholders: {{side}}, {{table}}, and from src/sink/columns.ts the columns a re-embed copies
-- besides the join keys id and text: {{sync_set}} (each = m.*), {{sync_side}} (s.*), {{sync_main}} (m.*).
UPDATE {{side}} s
SET {{sync_set}}
FROM {{table}} m
WHERE m.id = s.id AND m.text = s.text
  AND ({{sync_side}}) IS DISTINCT FROM ({{sync_main}});
