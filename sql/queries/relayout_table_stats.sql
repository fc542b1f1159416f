-- What a re-layout would move: rows, stores, rows reduced with PCA, and the bytes of the table
-- with its indexes and partitions (pg_partition_tree lists a partitioned table's tree, nothing for
-- a plain one, which counts alone), with the
-- average stored size of a row and of its embedding over the first 2,000 rows by id.
-- $1 the table (regclass text). Placeholder: {{table}}.
SELECT (SELECT count(*) FROM {{table}})::bigint AS rows,
       (SELECT count(*) FROM (SELECT DISTINCT user_id, collection_name FROM {{table}}) d)::bigint AS stores,
       (SELECT count(*) FROM {{table}} WHERE pca_model_id IS NOT NULL)::bigint AS pca_rows,
       (pg_total_relation_size(to_regclass($1)) + (SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree(to_regclass($1)) WHERE relid <> to_regclass($1)))::bigint AS total_bytes,
       coalesce(avg(pg_column_size(sample.*)), 0)::float8 AS row_bytes,
       coalesce(avg(pg_column_size(sample.embedding)), 0)::float8 AS embedding_bytes
FROM (SELECT * FROM {{table}} ORDER BY id LIMIT 2000) sample;
