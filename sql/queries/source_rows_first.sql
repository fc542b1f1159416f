-- The first page of one store of a source table ($3 owner, $4 collection, $5 page size), in key
-- order. {{metadata}} and {{vector}} are columns of t or NULL.
WITH p AS (SELECT $1::text AS owner_constant, $2::text AS collection_constant)
SELECT ({{id}})::text AS source_id, ({{text}})::text AS text, ({{metadata}})::jsonb AS metadata, ({{vector}})::real[] AS vector
FROM {{table}} AS t, p
WHERE ({{owner}})::text = $3 AND ({{collection}})::text = $4 AND {{id}} IS NOT NULL
ORDER BY {{id}}
LIMIT $5;
