-- 0010_reserved_for_issue_11.sql -- a placeholder: issue 11 (branch cost) owns migration 0010
--
-- The migrator wants 0001..N without gaps, and 0011 (Idempotency-Key on the contact row) was
-- written beside issue 11's 0010. When both branches meet, this file is dropped for that one.
SELECT 1;
