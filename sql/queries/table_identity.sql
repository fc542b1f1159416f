-- The table's OID ($1: its quoted name, resolved like the DDL resolves it), or NULL if it does not
-- exist. Advisory-lock keys are built from it, so `docs` and `public.docs` (one table, two
-- spellings) take the same locks.
SELECT to_regclass($1)::oid::text AS oid;
