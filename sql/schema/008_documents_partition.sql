-- One hash partition of a table created by 001_documents.sql in its partitioned form: the rows whose user_id
-- hashes to {{remainder}} modulo {{modulus}}. It inherits the parent's columns, primary key and
-- indexes (each partition gets its own HNSW graph, built and locked independently).
-- Placeholders: {{partition}} (`<table>_p<remainder>`, src/sink/identifiers.ts partitionTable),
-- {{table}}, {{modulus}}, {{remainder}}.

CREATE TABLE IF NOT EXISTS {{partition}} PARTITION OF {{table}} FOR VALUES WITH (MODULUS {{modulus}}, REMAINDER {{remainder}});
