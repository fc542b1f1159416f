-- The embedding fingerprint of one of the tool's rows (all of them share it on a healthy table:
-- doctor checks): tells query and verify how the table's vectors were made (a truncation, say).
-- NULL or no row: no tool row with a fingerprint. Placeholder: {{table}}.
SELECT embedding_fingerprint AS fingerprint
FROM {{table}}
WHERE source_index IS NOT NULL AND embedding_fingerprint IS NOT NULL
LIMIT 1;
