-- The migrations already applied to this schema, in order.
-- Placeholder: {{migrations}}.
SELECT version, name FROM {{migrations}} ORDER BY version;
