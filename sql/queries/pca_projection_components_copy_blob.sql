-- The same as pca_projection_components_copy_stdin.sql from PGlite's /dev/blob device.
-- Placeholder: {{pca_components}}.
COPY {{pca_components}} (model_id, component, piece, v) FROM '/dev/blob' WITH (FORMAT binary);
