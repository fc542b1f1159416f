-- Whether pg-boss's job table exists ($1: the queue's schema), so that status never creates the
-- queue, and whether this role may read it. Looked up in the catalogs because to_regclass itself
-- raises "permission denied for schema" without USAGE, and the migration role need not be the
-- role that installed the queue.
SELECT j.oid IS NOT NULL AS installed,
       j.oid IS NOT NULL AND has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(j.oid, 'SELECT') AS usable
  FROM (SELECT 1) one
  LEFT JOIN pg_namespace n ON n.nspname = $1
  LEFT JOIN pg_class j ON j.relnamespace = n.oid AND j.relname = 'job';
