-- Drops an INVALID HNSW index left by an interrupted concurrent build, without blocking the
-- table's readers and writers. Outside any transaction.
-- Placeholder: {{qualified_index}} (schema-qualified like its table).
DROP INDEX CONCURRENTLY IF EXISTS {{qualified_index}};
