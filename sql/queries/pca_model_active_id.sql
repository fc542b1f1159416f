-- Only the id of a documents table's active PCA model ($1: its unqualified name), for inspect().
-- Placeholder: {{pca_models}}.
SELECT id::text AS id
FROM {{pca_models}}
WHERE table_name = $1 AND active;
