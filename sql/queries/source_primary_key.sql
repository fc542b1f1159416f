-- The primary-key columns of a source table ($1: its quoted name); the default row id column when
-- there is exactly one.
SELECT a.attname::text AS name
FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = to_regclass($1)
  AND i.indisprimary
ORDER BY a.attnum;
