-- Memory for the index build ($1, e.g. '512MB', validated by src/sink/searchIndex.ts). $2 true:
-- for the current transaction only; false: for the session (reset afterwards with
-- maintenance_work_mem_reset.sql, as the connection goes back to a pool).
SELECT set_config('maintenance_work_mem', $1, $2);
