-- intake.pgbench.sql -- the ceiling: what a worker sends for one POST /api/contacts, straight to
-- PostgreSQL (pgbench -M prepared; one pgbench transaction = one intake = one autocommit statement).
-- The statement is the worker's "intake" statement verbatim (src/pg_queries.c): crm_intake reads
-- the source's operators, draws their weighted random order and takes the first eligible one
-- itself. The email is unique per transaction. (seed.sql's bench_orders are no longer read.)
-- Variables (-D): src_min, src_max (seeded source ids), orders (unused), tag (run tag).
\set src random(:src_min, :src_max)
\set r random(1, 999999999999)
SELECT id, lead_id, source_id, operator_id, status, created_at FROM crm_intake('pgb' || :tag::text || '-' || :client_id::text || '-' || :r::text || '@bench.test', :src);
