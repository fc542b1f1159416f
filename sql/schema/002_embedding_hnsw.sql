-- Approximate nearest-neighbour index for cosine distance (the `<=>` operator).
-- pgvector's HNSW index accepts at most 2,000 dimensions: src/sink/schema.ts skips this file
-- above that (the table still works; searches then scan).
-- Placeholders: {{table}}, {{hnsw_index}}.

CREATE INDEX IF NOT EXISTS {{hnsw_index}} ON {{table}} USING hnsw (embedding vector_cosine_ops);
