-- lock_shared.sql without waiting: false while another session holds the key ($1) exclusively.
SELECT pg_try_advisory_xact_lock_shared(hashtextextended($1, 0)) AS locked;
