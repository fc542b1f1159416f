-- The session's current values of the settings the sink changes, to put them back afterwards.
SELECT current_setting('row_security') AS row_security,
       current_setting('default_transaction_read_only') AS default_transaction_read_only;
