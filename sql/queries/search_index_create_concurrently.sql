-- The table's HNSW index (same definition as schema/002_embedding_hnsw.sql), built without
-- blocking writes. Must run outside any transaction; if it is interrupted it leaves an INVALID
-- index behind, which src/sink/searchIndex.ts drops (search_index_drop_concurrently.sql) and
-- rebuilds on the next call.
-- Placeholders: {{table}}, {{hnsw_index}}, {{ops}}.
CREATE INDEX CONCURRENTLY IF NOT EXISTS {{hnsw_index}} ON {{table}} USING hnsw (embedding {{ops}});
