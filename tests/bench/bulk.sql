-- bulk.sql -- store contacts in bulk: leads :first..:last (one contact each), spread over the
-- seeded sources and their operators, all with status 'closed'.
--
-- Run by tests/bench/run as role crm: psql -v first=1 -v last=1000000 -v tag=big -f bulk.sql
-- Closed contacts are not counted in operators.active_contacts (the exact count of 'active'
-- ones), so the counters stay exact without touching them; run finishes with VACUUM ANALYZE.
\set ON_ERROR_STOP 1

SELECT count(*) AS nsrc FROM bench_orders WHERE k = 1 \gset

CREATE TEMP TABLE bulk_src AS
SELECT row_number() OVER (ORDER BY source_id) - 1 AS idx, source_id, ops
  FROM bench_orders WHERE k = 1;

WITH l AS (
    INSERT INTO leads (email)
    SELECT format('bulk-%s-%s@bench.test', :'tag', g) FROM generate_series(:first, :last) g
    RETURNING id
)
INSERT INTO contacts (lead_id, source_id, operator_id, status)
SELECT l.id, b.source_id, b.ops[1 + (l.id / :nsrc) % cardinality(b.ops)], 'closed'
  FROM l JOIN bulk_src b ON b.idx = l.id % :nsrc;
