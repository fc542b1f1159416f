-- Side rows whose row was deleted from the documents table since they were written.
-- Placeholders: {{side}}, {{table}}.
DELETE FROM {{side}} s WHERE NOT EXISTS (SELECT 1 FROM {{table}} m WHERE m.id = s.id);
