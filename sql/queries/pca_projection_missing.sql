-- The active PCA model of a documents table ($1: its unqualified name) when pgvm_project has no
-- rows for it yet (a model saved before schema/013_pca_projection.sql existed), or no row.
-- Placeholders: {{pca_models}}, {{pca_means}}.
SELECT m.id::text AS id
FROM {{pca_models}} m
WHERE m.table_name = $1 AND m.active
  AND NOT EXISTS (SELECT 1 FROM {{pca_means}} p WHERE p.model_id = m.id);
