-- Whether a table exists ($1: its quoted name, resolved like the DDL resolves it). Lets readers
-- (dry runs included) answer "nothing yet" without creating anything.
SELECT to_regclass($1) IS NOT NULL AS present;
