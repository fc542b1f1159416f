-- The relations that belong to table $1 (regclass text) and are named after it: its indexes, its
-- partitions and theirs (constraints backed by an index are renamed with it). A rename of the
-- table carries them over to names derived from the new one.
SELECT c.relname AS name, c.relkind::text AS kind
FROM pg_class c
WHERE c.oid IN (
  SELECT i.indexrelid FROM pg_index i
  WHERE i.indrelid = $1::regclass OR i.indrelid IN (SELECT relid FROM pg_partition_tree($1::regclass))
  UNION
  SELECT relid FROM pg_partition_tree($1::regclass) WHERE relid <> $1::regclass
)
ORDER BY c.relname;
