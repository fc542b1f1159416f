-- Shared form of lock.sql: loads of different stores of one table ($1: the table's key) run side
-- by side, but not while a transaction that rewrites the whole table (a PCA refit) holds the
-- exclusive lock on the same key. Released when the transaction ends.
SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0));
