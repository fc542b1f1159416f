-- Serialises writers of the same key ($1) until the transaction ends: concurrent schema
-- creation (CREATE TABLE IF NOT EXISTS can still race), or two loads of the same store.
SELECT pg_advisory_xact_lock(hashtextextended($1, 0));
