-- doctor: rows whose text is empty or only ASCII whitespace (space, \t, \n, \r, \v, \f): their
-- embedding encodes nothing. An explicit class rather than [[:space:]], whose meaning for
-- non-ASCII characters depends on the database's locale (PGlite's and a server's differ).
-- $1: how many example ids to return, smallest ids first.
-- Placeholder: {{table}}.
SELECT (SELECT count(*)::int FROM {{table}} WHERE text ~ '^[ \t\n\r\v\f]*$') AS rows,
       ARRAY(SELECT id::text FROM {{table}} WHERE text ~ '^[ \t\n\r\v\f]*$' ORDER BY id LIMIT $1) AS examples;
