-- Approximate nearest-neighbour index for the table's distance: cosine (`<=>`), or L2 (`<->`) for
-- tables of PCA projections.
-- pgvector's HNSW index accepts at most 2,000 dimensions for vector and 4,000 for halfvec:
-- src/sink/schema.ts skips this file above that (the table still works; searches then scan).
-- Placeholders: {{table}}, {{hnsw_index}}, {{ops}} ({vector,halfvec}_{cosine,l2}_ops, matching the
-- column's type and the table's distance).

CREATE INDEX IF NOT EXISTS {{hnsw_index}} ON {{table}} USING hnsw (embedding {{ops}});
