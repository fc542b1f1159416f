-- Marks replacement $1 (by seq) as rolled back.
-- Placeholder: {{replacements}}.
UPDATE {{replacements}} SET restored_at = now() WHERE seq = $1;
