-- Stores a new PCA model as the active one of its documents table. float32 arrays are bytea of
-- little-endian IEEE 754 values; float8 values come as shortest round-trip text (exact input).
-- $1 id, $2 table (unqualified), $3 source dims, $4 target dims, $5 mean, $6 components,
-- $7 explained variance (array literal), $8 total variance, $9 sample size, $10 method,
-- $11 fit (JSON text), $12 evaluation vectors, $13 evaluation rows.
-- Placeholder: {{pca_models}}.
INSERT INTO {{pca_models}} (id, table_name, active, source_dimensions, target_dimensions, mean, components, explained_variance,
                            total_variance, sample_size, method, fit, evaluation, evaluation_rows)
VALUES ($1::uuid, $2, true, $3, $4, $5::bytea, $6::bytea, $7::float8[], $8::float8, $9, $10, $11::jsonb, $12::bytea, $13)
RETURNING created_at;
