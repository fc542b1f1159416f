-- Columns an application may have changed without changing the text (metadata, timestamps, even
-- the store a row is filed under): copied onto the side rows just before the swap, under the lock.
-- Placeholders: {{side}}, {{table}}.
UPDATE {{side}} s
SET user_id = m.user_id, collection_name = m.collection_name, metadata = m.metadata, created_at = m.created_at,
    updated_at = m.updated_at, content_sha256 = m.content_sha256, source_index = m.source_index
FROM {{table}} m
WHERE m.id = s.id AND m.text = s.text
  AND (s.user_id, s.collection_name, s.metadata, s.created_at, s.updated_at, s.content_sha256, s.source_index)
      IS DISTINCT FROM (m.user_id, m.collection_name, m.metadata, m.created_at, m.updated_at, m.content_sha256, m.source_index);
