-- doctor: the same text (content_sha256) stored more than once for one user, in any of the
-- user's collections: searches return it several times. The same text under two users is normal
-- and does not count. groups: (user, hash) pairs with more than one row; rows: the rows they make.
-- Application rows have no content_sha256: their text is hashed here the way the tool hashes it
-- (SHA-256 of the UTF-8 text), so a note the app wrote again counts as a duplicate too.
-- Examples: the $1 largest groups (then by user and hash), as JSON so one row carries all three.
-- Placeholder: {{table}}.
WITH dup AS (
  SELECT user_id, coalesce(content_sha256::text, encode(sha256(convert_to(text, 'UTF8')), 'hex')) AS content_sha256, count(*)::int AS n
  FROM {{table}}
  GROUP BY 1, 2
  HAVING count(*) > 1
)
SELECT (SELECT count(*)::int FROM dup) AS groups,
       (SELECT coalesce(sum(n), 0)::int FROM dup) AS rows,
       (SELECT coalesce(json_agg(json_build_object('userId', user_id, 'contentSha256', content_sha256, 'rows', n)
                                 ORDER BY n DESC, user_id, content_sha256), '[]'::json)
        FROM (SELECT user_id, content_sha256, n
              FROM dup ORDER BY n DESC, user_id, content_sha256 LIMIT $1) e) AS examples;
