-- Before new vectors go in: the side table's older rows of the same ids (an interrupted batch
-- redone, a text changed since) leave, so every id has exactly one row.
-- Placeholders: {{side}}, {{staging}}.
DELETE FROM {{side}} s USING {{staging}} st WHERE s.id = st.id;
