-- Replacement $1 (by seq) wrote its store again in this transaction (the run loads a store a
-- second time, e.g. in a PCA refit): the saved rows stay those from before the run's first
-- write, and written_at moves to now(), the created_at of the rows written now.
-- Placeholder: {{replacements}}.
UPDATE {{replacements}} SET written_at = now() WHERE seq = $1;
