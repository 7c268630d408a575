-- cost_intake.pgbench.sql -- the worker's intake statement (src/pg_queries.c) for one source
-- Variables (-D): src (source id), tag (run tag).
\set r random(1, 999999999999)
SELECT id, lead_id, source_id, operator_id, status, created_at FROM crm_intake('c' || :tag::text || '-' || :client_id::text || '-' || :r::text || '@bench.test', :src);
