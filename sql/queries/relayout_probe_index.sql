-- The dry run's timed HNSW build over the probe's rows (rolled back with it).
-- Placeholders: {{probe}}, {{ops}}.
CREATE INDEX ON {{probe}} USING hnsw (embedding {{ops}});
