-- Whether pg-boss's job table exists ($1: 'schema.job'), so that status never creates the queue.
SELECT to_regclass($1) IS NOT NULL AS installed;
