-- One side row per user (its smallest id) with its vector, for the spot-check search before a swap.
-- Placeholders: {{side}}, {{vector_type}} (the column's type: vector_send or halfvec_send).
SELECT DISTINCT ON (user_id) id::text AS id, user_id, collection_name, {{vector_type}}_send(embedding) AS embedding
FROM {{side}}
ORDER BY user_id, id;
