-- One user's k nearest rows. $1 user, $2 collection or NULL for all of the user's collections,
-- $3 query vector (text form '[x,y,…]'), $4 k.
-- Placeholders: {{table}}, {{vector_type}}: the embedding column's own type, and {{op}}: `<=>`
-- (cosine) or `<->` (L2), so the expression is the one the column's HNSW operator class serves.
-- An iterative scan in relaxed_order (search_iterative_scan.sql) may return the k rows slightly
-- out of order: they are sorted again outside the materialized scan, as pgvector's README does.
WITH nearest AS MATERIALIZED (
  SELECT id::text AS id,
         user_id,
         collection_name,
         text,
         source_index,
         (embedding {{op}} $3::{{vector_type}})::float8 AS distance,
         metadata
  FROM {{table}}
  WHERE user_id = $1
    AND ($2::varchar IS NULL OR collection_name = $2::varchar)
  ORDER BY embedding {{op}} $3::{{vector_type}}
  LIMIT $4
)
SELECT * FROM nearest ORDER BY distance, id;
