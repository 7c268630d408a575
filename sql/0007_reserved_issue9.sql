-- 0007_reserved_issue9.sql -- (no change) the number issue 9 (API keys) takes
--
-- Migrations are numbered without gaps (src/embed_sql.py). Issue 9's branch adds its own
-- 0007 (API keys) and issue 11's branch adds 0008 (the stats counters); this file only holds
-- number 7 on the issue-11 branch so that 0008 can be applied before the two are merged.
-- MERGE NOTE: delete this file when merging with issue 9's 0007. A database that ran it
-- records version 7 with this name; no release ships it.
SELECT 1;
