-- 0011_placeholder_idempotency_helper.sql -- PLACEHOLDER, to be dropped by the coordinator
--
-- Number 0011 is reserved for the idempotency helper of issue 10 (another branch). The migrator
-- refuses gaps (src/embed_sql.py), so this branch, which adds 0012, needs a file here until
-- the branches are merged; the merge replaces this file with the real 0011. It changes nothing.
SELECT 1;
