SELECT * FROM collection_metadata WHERE collection_id = ? ORDER BY key
