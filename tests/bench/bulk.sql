-- bulk.sql -- store contacts in bulk: leads :first..:last (one contact each), spread over the
-- seeded sources and their operators, all with status 'closed'.
--
-- Run by tests/bench/run as role crm: psql -v first=1 -v last=1000000 -v tag=big -f bulk.sql
-- Closed contacts are not counted in operators.active_contacts (the exact count of 'active'
-- ones), so the counters stay exact without touching them; run finishes with VACUUM ANALYZE.
\set ON_ERROR_STOP 1

CREATE TEMP TABLE bulk_src AS
SELECT row_number() OVER (ORDER BY source_id) - 1 AS idx, source_id,
       array_agg(operator_id ORDER BY operator_id) AS ops
  FROM source_operators GROUP BY source_id;
SELECT count(*) AS nsrc FROM bulk_src \gset

WITH l AS (
    INSERT INTO leads (email)
    SELECT format('bulk-%s-%s@bench.test', :'tag', g) FROM generate_series(:first, :last) g
    RETURNING id
)
INSERT INTO contacts (lead_id, source_id, operator_id, status)
SELECT l.id, b.source_id, b.ops[1 + (l.id / :nsrc) % cardinality(b.ops)], 'closed'
  FROM l JOIN bulk_src b ON b.idx = l.id % :nsrc;
