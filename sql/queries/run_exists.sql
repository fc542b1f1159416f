-- Whether the ledger knows run $1 (a load saving replaced rows under it needs it there first).
-- Placeholder: {{runs}}.
SELECT EXISTS (SELECT 1 FROM {{runs}} WHERE id = $1::uuid) AS present;
