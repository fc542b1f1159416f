-- One user's k nearest rows by cosine distance. $1 user, $2 collection or NULL for all of the
-- user's collections, $3 query vector (text form '[x,y,…]'), $4 k.
-- Placeholder: {{table}}.
SELECT id::text AS id,
       user_id,
       collection_name,
       text,
       source_index,
       (embedding <=> $3::vector)::float8 AS distance,
       metadata
FROM {{table}}
WHERE user_id = $1
  AND ($2::varchar IS NULL OR collection_name = $2::varchar)
ORDER BY embedding <=> $3::vector
LIMIT $4;
