-- idem_intake.pgbench.sql -- what a worker sends for one POST /api/contacts with a new
-- Idempotency-Key: the "idem_intake" statement of src/pg_queries.c on a first attempt (claim, intake, stored
-- answer in one statement, one round trip), with the request text a worker fingerprints.
-- Compare with intake.pgbench.sql (the same POST without a key). pgbench -M prepared.
-- Variables (-D): src_min, src_max (seeded source ids), tag (run tag).
\set src random(:src_min, :src_max)
\set r random(1, 999999999999)
SELECT o_outcome, o_status, o_location, o_body FROM crm_idem_intake('bench-client-id1', 'k-' || :tag::text || '-' || :client_id::text || '-' || :r::text, 'POST /api/contacts 0 0' || chr(10) || '{"email":"pgb' || :tag::text || '-' || :client_id::text || '-' || :r::text || '@bench.test","source_id":' || :src::text || '}', 86400, 'pgb' || :tag::text || '-' || :client_id::text || '-' || :r::text || '@bench.test', :src, false);
