-- Array-valued metadata (Chroma 1.x, metadb migration 6): one row per element, in insertion order.
SELECT m.* FROM embedding_metadata_array m JOIN embeddings e ON e.id = m.id
WHERE e.segment_id = ? ORDER BY m.id, m.key, m.rowid
