-- idem_3trips.pgbench.sql -- the same keyed POST the way the worker sent it before
-- crm_idem_intake (and still sends it for the other POSTs): BEGIN + crm_idem_claim in one
-- pipeline, the intake, crm_idem_store + COMMIT in another: three round trips in one
-- transaction. For comparison with idem_intake.pgbench.sql. pgbench -M prepared.
-- Variables (-D): src_min, src_max (seeded source ids), tag (run tag).
\set src random(:src_min, :src_max)
\set r random(1, 999999999999)
\startpipeline
BEGIN;
SELECT o_outcome, o_status, o_location, o_body FROM crm_idem_claim('bench-client-id1', 'k3-' || :tag::text || '-' || :client_id::text || '-' || :r::text, 'POST /api/contacts 0 0' || chr(10) || '{"email":"pgb3' || :tag::text || '-' || :client_id::text || '-' || :r::text || '@bench.test","source_id":' || :src::text || '}', 86400);
\endpipeline
SELECT id, lead_id, source_id, operator_id, status, created_at FROM crm_intake('pgb3' || :tag::text || '-' || :client_id::text || '-' || :r::text || '@bench.test', :src);
\startpipeline
SELECT crm_idem_store('bench-client-id1', 'k3-' || :tag::text || '-' || :client_id::text || '-' || :r::text, 'POST /api/contacts 0 0' || chr(10) || '{"email":"pgb3' || :tag::text || '-' || :client_id::text || '-' || :r::text || '@bench.test","source_id":' || :src::text || '}', 201, '/api/contacts/1', '{"id":1,"lead_id":1,"source_id":1,"operator_id":1,"status":"active","created_at":"2026-01-01T00:00:00.000000Z"}');
COMMIT;
\endpipeline
