-- The table's HNSW index as the catalogs see it ($1: the table's quoted name, resolved like the
-- DDL resolves it; $2: the index's unquoted name, in the table's schema). relkind is NULL when
-- the table does not exist ('p': partitioned, which PostgreSQL cannot index CONCURRENTLY);
-- valid is NULL when the index is missing, false when an interrupted CREATE INDEX CONCURRENTLY
-- left it INVALID (present, maintained by writes, never used by searches).
SELECT (SELECT c.relkind::text FROM pg_class c WHERE c.oid = to_regclass($1)) AS relkind,
       (SELECT i.indisvalid
          FROM pg_index i
          JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = to_regclass($1)
           AND ic.relname = $2) AS valid;
