-- New vectors into the side table, every other column copied from the documents table as it is
-- now (metadata, timestamps, store). Only where the text embedded is still the row's text: a row
-- an application changed meanwhile is left for the catch-up pass.
-- Placeholders: {{side}}, {{staging}}, {{table}}.
INSERT INTO {{side}} (id, user_id, collection_name, text, embedding, metadata, created_at, updated_at, content_sha256, embedding_model, source_index, pca_model_id, embedding_fingerprint)
SELECT m.id, m.user_id, m.collection_name, m.text, st.embedding, m.metadata, m.created_at, m.updated_at, m.content_sha256,
       st.embedding_model, m.source_index, st.pca_model_id, st.embedding_fingerprint
FROM {{staging}} st
JOIN {{table}} m ON m.id = st.id AND m.text = st.text;
