-- Removes the saved rows of one store ($1 user, $2 collection) and run $3 once they are back in
-- the documents table: the table holds them again, a second copy would only go stale.
-- Placeholder: {{previous}}.
DELETE FROM {{previous}} WHERE replaced_by_run = $3::uuid AND user_id = $1 AND collection_name = $2;
