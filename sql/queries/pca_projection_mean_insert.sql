-- The mean of a newly saved PCA model as a pgvector value, for pgvm_project
-- (schema/013_pca_projection.sql). $1 model id, $2 mean (text form '[x,y,…]'), $3 piece length.
-- Placeholder: {{pca_means}}.
INSERT INTO {{pca_means}} (model_id, mean, piece_dimensions) VALUES ($1::uuid, $2::vector, $3);
