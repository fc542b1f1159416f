-- First step of a purge: the replacements of table $1 (unqualified) older than $2 days can no
-- longer be rolled back. Runs before purge_previous.sql in the same transaction, so a rollback
-- holding one of these rows (FOR UPDATE) finishes first, and one starting after sees purged_at.
-- Placeholder: {{replacements}}.
UPDATE {{replacements}} SET purged_at = now()
WHERE table_name = $1 AND replaced_at < now() - $2::float8 * interval '1 day'
  AND restored_at IS NULL AND purged_at IS NULL;
