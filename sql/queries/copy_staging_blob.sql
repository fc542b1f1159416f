-- Binary COPY into the staging table from PGlite's /dev/blob device (the `blob` query option).
-- Placeholders: {{copy_columns}}, the encoder's column order (src/sink/columns.ts COPY_COLUMNS,
-- which src/sink/copyBinary.ts writes field by field); {{staging}}, the staging table, or the
-- documents table itself when the store has no rows yet (src/sink/storeWriter.ts,
-- queries/store_direct_load.sql).
COPY {{staging}} ({{copy_columns}})
FROM '/dev/blob' WITH (FORMAT binary);
