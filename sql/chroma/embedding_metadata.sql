-- SELECT * because bool_value exists only from metadb migration 2 on.
SELECT m.* FROM embedding_metadata m JOIN embeddings e ON e.id = m.id
WHERE e.segment_id = ? ORDER BY m.id, m.key
