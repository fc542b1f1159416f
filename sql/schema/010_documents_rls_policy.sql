-- The policy of 009: one user's rows, for every command (SELECT, INSERT, UPDATE, DELETE), with
-- WITH CHECK so that no row can be written, or moved by an UPDATE, under another user.
-- NULLIF: a pooled connection that once ran SET LOCAL app.user_id keeps the setting defined but
-- empty ('') after that transaction; like an unset one (NULL), it matches no row.
-- current_setting(…, true) is stable within a statement, so the (user_id, collection_name) index
-- and partition pruning still apply. Placeholders: {{table}}, {{policy}}.

CREATE POLICY {{policy}} ON {{table}}
  USING (user_id = NULLIF(current_setting('app.user_id', true), ''))
  WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), ''));
