-- Session-wide (not transaction-local) values of the settings the sink changes: $1 row_security,
-- $2 default_transaction_read_only.
SELECT set_config('row_security', $1, false), set_config('default_transaction_read_only', $2, false);
