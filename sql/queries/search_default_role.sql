-- setup-search --role: every new connection of the role to this database scans HNSW indexes
-- iteratively (pgvector 0.8+). Placeholders: {{role}}, {{database}}.
ALTER ROLE {{role}} IN DATABASE {{database}} SET hnsw.iterative_scan = relaxed_order;
