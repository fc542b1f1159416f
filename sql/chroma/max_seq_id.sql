-- An 8-byte big-endian BLOB before metadb migration 5, an INTEGER after.
SELECT seq_id FROM max_seq_id WHERE segment_id = ?
