-- Pieces of a PCA model's components as pgvector values, for pgvm_project
-- (schema/013_pca_projection.sql). $1 model id, $2 component numbers (0-based), $3 piece numbers
-- (0-based), $4 the pieces (text form '[x,y,…]'), element i of each array describing one row.
-- Placeholder: {{pca_components}}.
INSERT INTO {{pca_components}} (model_id, component, piece, v)
SELECT $1::uuid, u.component, u.piece, u.v::vector
FROM unnest($2::integer[], $3::integer[], $4::text[]) AS u(component, piece, v);
