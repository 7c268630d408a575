-- 0014_placeholder_sticky_helper.sql -- PLACEHOLDER, to be dropped by the coordinator
--
-- Number 0014 is reserved for the sticky helper of issue 14 (another branch:
-- sources.sticky_window_seconds). The migrator refuses gaps (src/embed_sql.py), so this branch,
-- which adds 0015, needs a file here until the branches are merged; the merge replaces this file
-- with the real 0014. It changes nothing.
SELECT 1;
