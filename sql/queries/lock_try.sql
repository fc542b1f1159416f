-- lock.sql without waiting: true when the lock on key $1 was taken (held until the transaction
-- ends), false when another session holds it. Lets `--no-wait` fail at once, and the default mode
-- say what it waits for before blocking.
SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked;
