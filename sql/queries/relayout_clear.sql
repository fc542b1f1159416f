-- Before a page is copied: side rows of its ids (older copies of rows changed since) leave, so
-- every id has exactly one side row. $1 the page's ids. Placeholder: {{side}}.
DELETE FROM {{side}} WHERE id = ANY($1::uuid[]);
