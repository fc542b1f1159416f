-- Row-level security (migrate --rls, setup-rls): a session sees and writes only the rows of the
-- user it names in the setting app.user_id (SET LOCAL app.user_id = '…', or
-- set_config('app.user_id', …, true), inside the request's transaction). FORCE: the table's owner
-- is subject to it too, so an application that connects as the owner is still isolated. Only
-- superusers and roles with BYPASSRLS read across users: the role this tool runs as (README,
-- "Row-level security"). Idempotent (ENABLE/FORCE of an already secured table change nothing);
-- the policy itself is created by 010 only when missing (CREATE POLICY has no IF NOT EXISTS).
-- Placeholder: {{table}}.

ALTER TABLE {{table}} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{table}} FORCE ROW LEVEL SECURITY;
