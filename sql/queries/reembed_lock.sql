-- The swap's lock: readers and writers of both tables wait the few milliseconds of the renames,
-- and nothing is written to the documents table between the last catch-up and the swap.
-- Placeholder: {{tables}} (a comma-separated list of quoted names).
LOCK TABLE {{tables}} IN ACCESS EXCLUSIVE MODE;
