-- Whether one store of a source table ($3 owner, $4 collection) has a row: how a queued job finds
-- its store without the DISTINCT over the whole table (source_stores.sql). {{owner}} and
-- {{collection}} are columns of t or the constants of p ($1 owner, $2 collection).
WITH p AS (SELECT $1::text AS owner_constant, $2::text AS collection_constant)
SELECT EXISTS (SELECT 1 FROM {{table}} AS t, p WHERE ({{owner}})::text = $3 AND ({{collection}})::text = $4) AS found;
