-- Per-transaction staging table shaped like the target (types, NOT NULL, defaults), dropped at
-- commit and gone on rollback. Rows reach the target only by the INSERT … SELECT that follows.
-- LIKE copies no foreign keys: pca_model_id is checked when the rows reach the target.
-- Dropped explicitly after each store (drop_staging.sql) so that one transaction can load several.
-- Placeholders: {{staging}}, {{table}}.
CREATE TEMP TABLE {{staging}} (LIKE {{table}} INCLUDING DEFAULTS) ON COMMIT DROP;
