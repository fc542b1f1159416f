-- Rows an application wrote into the table (the original app's INSERT names none of the
-- provenance columns, so source_index is NULL), per store. The tool never deletes or changes them;
-- verify and doctor count them. Placeholder: {{table}}.
SELECT user_id, collection_name, count(*)::int AS rows
FROM {{table}}
WHERE source_index IS NULL
GROUP BY user_id, collection_name
ORDER BY user_id, collection_name;
