-- Per-transaction staging table shaped like the target (types, NOT NULL, defaults), dropped at
-- commit and gone on rollback. Rows reach the target only by the INSERT … SELECT that follows.
-- Placeholders: {{staging}}, {{table}}.
CREATE TEMP TABLE {{staging}} (LIKE {{table}} INCLUDING DEFAULTS) ON COMMIT DROP;
