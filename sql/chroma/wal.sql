-- The write-ahead log of one collection after a seq_id (the persisted HNSW segment's max_seq_id,
-- or 0), in the order Chroma applies it.
SELECT seq_id, operation, id, vector, encoding FROM embeddings_queue
WHERE topic = ? AND seq_id > ? ORDER BY seq_id
