-- seed.sql -- benchmark data set: sources, operators shared between them, and their weights.
--
-- Run by tests/bench/run as role crm on a fresh database crm (schema from the binary's migrations):
--   psql -v srcs=20 -v ops=40 -v per=10 -f seed.sql
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

ANALYZE operators;
ANALYZE sources;
ANALYZE source_operators;
