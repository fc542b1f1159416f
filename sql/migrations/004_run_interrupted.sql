-- A run stopped by SIGINT/SIGTERM (or its caller's AbortSignal) between stores ends as
-- 'interrupted': neither a success nor a failure of its stores, and what `status` shows so that
-- an operator knows to run it again. Widens the CHECK of 001_ledger.sql; the constraint carries
-- PostgreSQL's default name for it (migration_runs_status_check) there, so dropping it by that
-- name and adding it again is idempotent.
-- Placeholder: {{runs}}.

ALTER TABLE {{runs}} DROP CONSTRAINT IF EXISTS migration_runs_status_check;
ALTER TABLE {{runs}} ADD CONSTRAINT migration_runs_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted'));
