-- Retires the active model of a documents table ($1: its unqualified name) before a new one is
-- inserted as active (the partial unique index allows one active model per table). The old model
-- stays: rows projected with it still reference it.
-- Placeholder: {{pca_models}}.
UPDATE {{pca_models}} SET active = false WHERE table_name = $1 AND active;
