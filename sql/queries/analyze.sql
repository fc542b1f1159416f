-- Fresh planner statistics after a load, so that per-user searches are planned on the table's
-- real size and user counts (a never-analyzed table is planned as if it were small).
-- Placeholder: {{table}}.
ANALYZE {{table}};
