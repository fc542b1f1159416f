-- How the documents table is laid out ($1: its quoted name, resolved like the DDL resolves it;
-- $2: the name of this tool's RLS policy): its hash partitions on user_id (count, or NULL when it
-- is not hash-partitioned on that column alone), and its row-level security state. No row: no table.
SELECT c.relrowsecurity AS rls_enabled,
       c.relforcerowsecurity AS rls_forced,
       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = $2) AS has_policy,
       c.relkind = 'p' AS partitioned,
       CASE WHEN pt.partstrat = 'h' AND pt.partnatts = 1
                 AND (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = pt.partattrs[0]) = 'user_id'
            THEN (SELECT count(*)::int FROM pg_inherits i WHERE i.inhparent = c.oid)
       END AS hash_partitions
FROM pg_class c
LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
WHERE c.oid = to_regclass($1);
