-- min_intake.pgbench.sql -- pgbench replay of bench_min_intake (min_intake.sql), unique emails
-- Variables (-D): src (source id), tag (run tag).
\set r random(1, 999999999999)
SELECT bench_min_intake('m' || :tag::text || '-' || :client_id::text || '-' || :r::text || '@bench.test', :src);
