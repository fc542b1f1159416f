-- Whether a load may COPY one store's rows ($2 user, $3 collection) straight into the documents
-- table ($1: its quoted name) instead of through a staging table: only when the store has no
-- rows yet (nothing to replace: a first load, the bulk of a migration) and the table has no
-- row-level security (COPY FROM refuses tables under RLS; INSERT ... SELECT from staging does not).
-- Placeholder: {{table}}.
SELECT NOT c.relrowsecurity
       AND NOT EXISTS (SELECT 1 FROM {{table}} WHERE user_id = $2 AND collection_name = $3) AS direct
FROM pg_class c
WHERE c.oid = to_regclass($1);
