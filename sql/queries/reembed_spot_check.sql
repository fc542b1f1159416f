-- The spot check before a swap: one side row per user (its smallest id), and the user's side row
-- nearest to that row's own vector, found by an EXACT search. Every distance is computed in the
-- materialized CTE (no ORDER BY on the operator, so no HNSW index can serve it: the approximate
-- index misses rows at distance 0 among near-duplicates, and would fail the check the same way on
-- every re-run) and the nearest is picked outside it.
-- Placeholders: {{side}}, {{op}} (`<=>` cosine or `<->` L2, the job's distance).
WITH spot AS (
  SELECT DISTINCT ON (user_id) id, user_id, collection_name, embedding
  FROM {{side}}
  ORDER BY user_id, id
),
distances AS MATERIALIZED (
  SELECT spot.id AS spot_id, s.id AS found_id, (s.embedding {{op}} spot.embedding)::float8 AS distance
  FROM spot
  JOIN {{side}} s ON s.user_id = spot.user_id
)
SELECT DISTINCT ON (spot.id)
       spot.id::text AS id,
       spot.user_id,
       spot.collection_name,
       d.found_id::text AS found_id,
       d.distance
FROM spot
LEFT JOIN distances d ON d.spot_id = spot.id
ORDER BY spot.id, d.distance, d.found_id;
