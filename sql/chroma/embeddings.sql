-- The live records of a METADATA segment, in the order Chroma inserted them.
SELECT id, embedding_id FROM embeddings WHERE segment_id = ? ORDER BY id
