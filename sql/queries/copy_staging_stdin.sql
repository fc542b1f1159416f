-- Binary COPY into the staging table over the wire (pg driver, pg-copy-streams).
-- The column order is the encoder's: src/sink/copyBinary.ts COPY_COLUMNS.
-- Placeholder: {{staging}}: the staging table, or the documents table itself when the store
-- has no rows yet (src/sink/sqlSink.ts, queries/store_direct_load.sql).
COPY {{staging}} (id, user_id, collection_name, text, embedding, metadata, content_sha256, embedding_model, source_index, pca_model_id, embedding_fingerprint)
FROM STDIN WITH (FORMAT binary);
