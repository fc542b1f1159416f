-- Whether a source table ($1) is the target documents table ($2), both quoted and resolved by the
-- same search_path: a run must not read the table it replaces rows of.
SELECT to_regclass($1) IS NOT NULL AND to_regclass($1) = to_regclass($2) AS same;
