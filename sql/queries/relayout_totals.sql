-- The swap's last check, under its lock, after the catch-up left no pending row and the prune no
-- side row without its row: every row of the table has an equal side row of its id, and every
-- side row has a row; so equal counts and no id twice in the side table mean the two hold the
-- same rows. Cheaper than relayout_compare.sql, which would compute the new layout of every row
-- again while readers wait. Placeholders: {{table}}, {{side}}.
SELECT (SELECT count(*) FROM {{table}})::bigint AS table_rows,
       (SELECT count(*) FROM {{side}})::bigint AS side_rows,
       (SELECT count(*) - count(DISTINCT id) FROM {{side}})::bigint AS duplicate_ids;
