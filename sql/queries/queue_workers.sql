-- Live workers: the distinct application_name of their open connections ($1: the name's prefix
-- followed by %). A SIGKILLed worker's connections close with it, so it drops out at once.
SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE application_name LIKE $1 ORDER BY 1;
