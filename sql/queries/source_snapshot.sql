-- First statement of every read of a source table: one snapshot for all of a store's queries
-- (its count, checksum and rows agree), and the server refuses any write.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;
