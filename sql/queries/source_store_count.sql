-- Rows of one store of a source table ($3 owner, $4 collection), and how many have a NULL id.
WITH p AS (SELECT $1::text AS owner_constant, $2::text AS collection_constant)
SELECT count(*)::bigint AS rows, count(*) FILTER (WHERE {{id}} IS NULL)::bigint AS null_ids
FROM {{table}} AS t, p
WHERE ({{owner}})::text = $3 AND ({{collection}})::text = $4;
