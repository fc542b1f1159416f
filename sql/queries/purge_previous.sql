-- Deletes the saved rows older than $1 days (DELETE: the table itself stays).
-- Placeholder: {{previous}}.
DELETE FROM {{previous}} WHERE replaced_at < now() - $1::float8 * interval '1 day';
