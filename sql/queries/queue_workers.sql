-- Live workers: the distinct application_name of their open connections ($1: the name's prefix
-- followed by %). A SIGKILLed worker's connections close with it, so it drops out at once.
-- pg_stat_activity lists the whole server: workers of its other databases are not this queue's.
SELECT DISTINCT application_name AS name FROM pg_stat_activity
 WHERE application_name LIKE $1 AND datname = current_database() ORDER BY 1;
