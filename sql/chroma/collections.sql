-- Every collection; SELECT * because the columns differ by schema generation
-- (0.4: topic; 0.5+: database_id, config_json_str; 1.x: schema_str).
SELECT * FROM collections ORDER BY name, id
