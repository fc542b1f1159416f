SELECT * FROM segment_metadata WHERE segment_id = ? ORDER BY key
