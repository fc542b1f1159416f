-- The dry run's probe (inside a transaction it rolls back): an empty temporary table with the
-- documents table's columns, its embedding of the new type and dimension.
-- Placeholders: {{probe}}, {{table}}, {{vector_type}}, {{dimensions}}.
CREATE TEMPORARY TABLE {{probe}} (LIKE {{table}}) ON COMMIT DROP;
ALTER TABLE {{probe}} ALTER COLUMN embedding TYPE {{vector_type}}({{dimensions}});
