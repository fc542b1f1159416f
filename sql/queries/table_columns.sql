-- Columns of the target table ($1: its quoted name, resolved like the DDL resolves it), with
-- each column's type and type modifier. For pgvector's `vector` and `halfvec`, atttypmod is the
-- dimension (-1 when the column was declared without one). not_null: whether the column refuses
-- NULL (schema/011 and 012 lift that from the provenance columns). No rows: the table does not exist.
SELECT a.attname::text AS name,
       t.typname::text AS type_name,
       a.atttypmod AS typmod,
       format_type(a.atttypid, a.atttypmod) AS formatted_type,
       a.attnotnull AS not_null
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass($1)
  AND a.attnum > 0
  AND NOT a.attisdropped
ORDER BY a.attnum;
