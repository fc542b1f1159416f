-- pgvector 0.8+: an HNSW scan filtered afterwards (by user_id) keeps scanning until it has LIMIT
-- rows instead of stopping after ef_search candidates. For the current transaction only.
SET LOCAL hnsw.iterative_scan = relaxed_order;
