-- Drops the staging table once its rows are in the target, so the next store of the same
-- transaction (a PCA refit loads every store in one) can create it again.
-- Placeholder: {{staging}}.
DROP TABLE {{staging}};
