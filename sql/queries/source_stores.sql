-- The stores of a source table: each distinct (owner, collection), in code-unit order. {{owner}}
-- and {{collection}} are columns of t or the constants of p ($1 owner, $2 collection).
-- Rows with a NULL owner or collection come out as NULL: the caller refuses them.
WITH p AS (SELECT $1::text AS owner_constant, $2::text AS collection_constant)
SELECT s.user_id, s.collection
FROM (SELECT DISTINCT ({{owner}})::text AS user_id, ({{collection}})::text AS collection FROM {{table}} AS t, p) AS s
ORDER BY s.user_id COLLATE "C", s.collection COLLATE "C";
