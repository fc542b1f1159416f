-- setup-search: the session's database, whether role $1 exists (NULL when no role is given), and
-- whether `hnsw.iterative_scan = relaxed_order` is already the default of role $1 in this database
-- (of the database itself when $1 is NULL).
SELECT current_database() AS database,
       CASE WHEN $1::text IS NULL THEN NULL ELSE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1::text) END AS role_exists,
       EXISTS (
         SELECT 1
         FROM pg_db_role_setting s
         WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND s.setrole = COALESCE((SELECT oid FROM pg_roles WHERE rolname = $1::text), 0)
           AND 'hnsw.iterative_scan=relaxed_order' = ANY (s.setconfig)
       ) AS already_set;
