-- doctor: the distinct embedding fingerprints of the tool's rows with their row counts, NULL (rows
-- loaded before fingerprints existed) included as a group of its own. Application rows (no
-- source_index, no fingerprint) are counted by application_rows.sql instead. More than one group means
-- vectors produced differently sit side by side and distances between them mean nothing.
-- Most common first; ties by fingerprint (NULL first) so the order is stable.
-- Placeholder: {{table}}.
SELECT embedding_fingerprint AS fingerprint, count(*)::int AS rows
FROM {{table}}
WHERE source_index IS NOT NULL
GROUP BY embedding_fingerprint
ORDER BY rows DESC, fingerprint NULLS FIRST;
