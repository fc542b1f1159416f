-- Back to the server's default once a session-level index build is over (pooled connection).
RESET maintenance_work_mem;
