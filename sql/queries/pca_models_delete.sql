-- The models of a side table being removed ($1 its name); no row references them any more.
-- Placeholder: {{pca_models}}.
DELETE FROM {{pca_models}} WHERE table_name = $1;
