-- Renames a table or an index in its own schema. Placeholders: {{kind}} (TABLE or INDEX),
-- {{relation}} (quoted, maybe schema-qualified), {{new_name}} (quoted, unqualified).
ALTER {{kind}} {{relation}} RENAME TO {{new_name}};
