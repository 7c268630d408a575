-- intake.pgbench.sql -- the ceiling: what a worker sends for one POST /api/contacts, straight to
-- PostgreSQL (pgbench -M prepared; one pgbench transaction = one intake = two autocommit statements).
-- Statement 1 is the worker's "candidates" statement verbatim (src/pg_queries.c). Statement 2 is
-- its "intake" statement; the email is unique per transaction and the operator order, which the
-- worker draws in C, is one of the weighted random orders precomputed by seed.sql (bench_orders),
-- with the candidates snapshot the worker sends along (same shape and size).
-- Variables (-D): src_min, src_max (seeded source ids), orders (orders per source), tag (run tag).
\set src random(:src_min, :src_max)
\set k random(1, :orders)
\set r random(1, 999999999999)
SELECT so.operator_id, so.weight, o.is_active, o.active_contacts, o.max_load_limit FROM sources s LEFT JOIN source_operators so ON so.source_id = s.id LEFT JOIN operators o ON o.id = so.operator_id WHERE s.id = :src;
SELECT i.id, i.lead_id, i.source_id, i.operator_id, i.status, i.created_at FROM bench_orders o, crm_intake('pgb' || :tag::text || '-' || :client_id::text || '-' || :r::text || '@bench.test', :src, o.ops, o.cands) i WHERE o.source_id = :src AND o.k = :k;
