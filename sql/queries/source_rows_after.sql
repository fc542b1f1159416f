-- The next page of one store of a source table: the rows after key $6 (the last page's last id as
-- text, read back as the id column's own type), so each page is an index range and memory stays
-- one page whatever the table's size.
WITH p AS (SELECT $1::text AS owner_constant, $2::text AS collection_constant)
SELECT ({{id}})::text AS source_id, ({{text}})::text AS text, ({{metadata}})::jsonb AS metadata, ({{vector}})::real[] AS vector
FROM {{table}} AS t, p
WHERE ({{owner}})::text = $3 AND ({{collection}})::text = $4 AND {{id}} > $6
ORDER BY {{id}}
LIMIT $5;
