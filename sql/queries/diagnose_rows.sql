-- doctor, on a table created before embedding_fingerprint existed (diagnose_fingerprints.sql
-- cannot name the column): every row counts as one NULL-fingerprint group. Reads only.
-- Placeholder: {{table}}.
SELECT count(*)::int AS rows
FROM {{table}};
