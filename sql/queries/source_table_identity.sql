-- A source table (--from-table, $1: its quoted name): its schema and name as the catalog resolved
-- them (row ids derive from these, so `docs` and `public.docs` give the same ids), and its kind.
-- No row: no such table.
SELECT n.nspname::text AS schema_name, c.relname::text AS table_name, c.relkind::text AS kind
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1);
