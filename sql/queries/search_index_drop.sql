-- Drops an INVALID HNSW index inside the transaction that rebuilds it (plain build: PGlite,
-- partitioned tables).
-- Placeholder: {{qualified_index}} (schema-qualified like its table).
DROP INDEX IF EXISTS {{qualified_index}};
