-- Records one applied migration ($1 version, $2 name), in the transaction that applied it.
-- Placeholder: {{migrations}}.
INSERT INTO {{migrations}} (version, name) VALUES ($1, $2);
