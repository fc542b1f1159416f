-- The highest migration applied to the schema holding this version table.
-- Placeholder: {{migrations}}.
SELECT max(version) AS version FROM {{migrations}};
