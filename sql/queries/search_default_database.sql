-- setup-search: every new connection to the database scans HNSW indexes iteratively (pgvector 0.8+).
-- Placeholder: {{database}}.
ALTER DATABASE {{database}} SET hnsw.iterative_scan = relaxed_order;
