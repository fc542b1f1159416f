-- One PCA model of a documents table by id ($1: table's unqualified name, $2: id), active or not.
-- Placeholder: {{pca_models}}.
SELECT id::text AS id,
       created_at,
       source_dimensions,
       target_dimensions,
       mean,
       components,
       -- float8 values as their 8 IEEE 754 bytes (big-endian): exact, unlike their text form
       (SELECT string_agg(float8send(v), ''::bytea ORDER BY i)
          FROM unnest(explained_variance) WITH ORDINALITY AS u(v, i)) AS explained_variance,
       float8send(total_variance) AS total_variance,
       sample_size,
       method,
       fit,
       evaluation,
       evaluation_rows
FROM {{pca_models}}
WHERE table_name = $1 AND id = $2::uuid;
