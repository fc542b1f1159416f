-- A transaction on a connection of the caller's pool: the sink's setting lasts only until COMMIT
-- or ROLLBACK, so the connection goes back to the caller as it came (see src/sink/pgSink.ts).
BEGIN;
SET LOCAL row_security = off;
