-- Tool rows of one store ($1 user, $2 collection) created or updated after replacement $3 (by
-- seq) last wrote it: written by a load without a run id. Rolling back would lose them.
-- Application rows (source_index NULL) do not count: rollback leaves them as they are. The rows the replacement inserted have created_at = its written_at (both now() of
-- the same transaction), so they do not count.
-- Placeholders: {{table}}, {{replacements}}.
SELECT count(*)::int AS n
FROM {{table}}
WHERE user_id = $1 AND collection_name = $2 AND source_index IS NOT NULL
  AND (created_at > (SELECT written_at FROM {{replacements}} WHERE seq = $3)
       OR updated_at > (SELECT written_at FROM {{replacements}} WHERE seq = $3));
