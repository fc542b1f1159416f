-- Pieces of a PCA model's components for pgvm_project (schema/013_pca_projection.sql), as one
-- binary COPY from the client (pg); src/sink/pcaProjection.ts encodes the rows. Binary, not
-- text: 6 million float32 values as decimal text took seconds to write and parse.
-- Placeholder: {{pca_components}}.
COPY {{pca_components}} (model_id, component, piece, v) FROM STDIN WITH (FORMAT binary);
