-- borrowed_begin.sql for a dry run: the server refuses any write in this transaction.
BEGIN READ ONLY;
SET LOCAL row_security = off;
