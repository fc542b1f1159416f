-- Dry runs: the database itself refuses any write from this session, whatever the code does.
SET default_transaction_read_only = on;
