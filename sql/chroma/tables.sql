-- The tables of a chroma.sqlite3, to tell its schema generation apart.
SELECT name FROM sqlite_master WHERE type = 'table'
