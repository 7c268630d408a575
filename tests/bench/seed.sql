-- seed.sql -- benchmark data set: sources, operators shared between them, weights, and the
-- per-source weighted random operator orders that intake.pgbench.sql replays.
--
-- Run by tests/bench/run as role crm on a fresh database crm (schema from the binary's migrations):
--   psql -v srcs=20 -v ops=40 -v per=10 -v orders=64 -f seed.sql
-- Every operator is active with a limit of 1,000,000 (the contract's maximum), so every contact
-- the benchmark creates is assigned and no operator fills up during a run.
\set ON_ERROR_STOP 1

INSERT INTO operators (name, is_active, max_load_limit)
SELECT format('bench-op-%s', g), true, 1000000
  FROM generate_series(1, :ops) g;

INSERT INTO sources (name, description)
SELECT format('bench-src-%s', g), 'benchmark source'
  FROM generate_series(1, :srcs) g;

-- Source number s (0-based) gets the :per operators starting at 2*s (mod :ops): with 20 sources,
-- 40 operators and 10 per source, every operator serves 5 sources. Weights 1..100, varied.
INSERT INTO source_operators (source_id, operator_id, weight)
SELECT s.id, o.id, 1 + (s.rn * 37 + j * 11) % 100
  FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS rn FROM sources) s
 CROSS JOIN generate_series(0, :per - 1) j
  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS rn FROM operators) o
    ON o.rn = (s.rn * 2 + j) % :ops;

-- What a worker computes in C before its second statement (include/crm/pick.h): the source's
-- operators in weighted random order (successive sampling without replacement). pgbench cannot
-- build arrays, so :orders such orders per source are drawn here with exponential keys
-- (sorting by -ln(U)/weight gives exactly that distribution) and pgbench picks one at random.
-- All operators are eligible, so "eligible first" changes nothing.
CREATE TABLE bench_orders (
    source_id bigint NOT NULL,
    k         integer NOT NULL,
    ops       bigint[] NOT NULL,
    cands     jsonb NOT NULL,  -- what the worker sends as the candidates it drew from
    PRIMARY KEY (source_id, k)
);
INSERT INTO bench_orders (source_id, k, ops, cands)
SELECT so.source_id, k.k, array_agg(so.operator_id ORDER BY -ln(1.0 - random()) / so.weight),
       crm_candidates_snapshot(so.source_id)
  FROM source_operators so
 CROSS JOIN generate_series(1, :orders) AS k(k)
 GROUP BY so.source_id, k.k;

ANALYZE operators;
ANALYZE sources;
ANALYZE source_operators;
ANALYZE bench_orders;
