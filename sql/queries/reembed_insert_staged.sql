-- New vectors into the side table, every other column copied from the documents table as it is
-- now (metadata, timestamps, store). Only where the text embedded is still the row's text: a row
-- an application changed meanwhile is left for the catch-up pass.
-- Placeholders: {{side}}, {{staging}}, {{table}}, and from src/sink/columns.ts {{row_columns}} (every
-- column of the row) and {{reembed_select}} (the same, the embedded ones as st.*, the others as m.*).
INSERT INTO {{side}} ({{row_columns}})
SELECT {{reembed_select}}
FROM {{staging}} st
JOIN {{table}} m ON m.id = st.id AND m.text = st.text;
