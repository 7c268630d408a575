-- 09_source_counts.sql -- the stats counters of sql/0008_source_counts.sql follow every change
-- of contacts: inserts (one and many), updates (one and many, operator and status), deletes;
-- the waiting ones in shards by contact id, each shard exact
BEGIN;
SELECT plan(12);

-- the counter rows that differ from a recount of all contacts (none when exact)
CREATE FUNCTION pg_temp.off() RETURNS bigint
LANGUAGE sql AS $$
    SELECT (SELECT count(*)
              FROM (SELECT source_id, operator_id, count(*) AS n FROM contacts WHERE operator_id IS NOT NULL
                     GROUP BY 1, 2) r
              FULL JOIN (SELECT * FROM source_operator_counts WHERE assigned <> 0) k USING (source_id, operator_id)
             WHERE r.n IS DISTINCT FROM k.assigned)
         + (SELECT count(*)
              FROM (SELECT source_id, count(*) AS n FROM contacts WHERE operator_id IS NULL AND status = 'active'
                     GROUP BY 1) r
              FULL JOIN (SELECT source_id, sum(waiting) AS waiting FROM source_waiting GROUP BY 1 HAVING sum(waiting) <> 0) w
                     USING (source_id)
             WHERE r.n IS DISTINCT FROM w.waiting);
$$;

SELECT is(pg_temp.off(), 0::bigint, 'counts: exact to start with (the fixtures of the template)');
CREATE TEMP TABLE f AS SELECT tap.source() AS s, tap.source() AS t, tap.operator(true, 2) AS a, tap.operator(true, 50) AS b;
SELECT tap.configure(s, a), tap.configure(t, a), tap.configure(t, b) FROM f;

CREATE TEMP TABLE i AS SELECT (crm_intake('c1@x.test', s)).id AS i1, (crm_intake('c2@x.test', s)).id AS i2,
       (crm_intake('c3@x.test', s)).id AS i3 FROM f;
SELECT is(pg_temp.off(), 0::bigint, 'counts: intakes, assigned and one waiting');
SELECT is((SELECT sum(waiting) FROM source_waiting, f WHERE source_id = f.s), 1::numeric, 'counts: one waiting') FROM f;

CREATE TEMP TABLE q AS SELECT tap.waiting(f.t, 20) AS w FROM f;  -- one INSERT statement per contact
INSERT INTO contacts (lead_id, source_id, operator_id, status)  -- many rows, several sources, one statement
SELECT tap.lead(), CASE WHEN g % 2 = 0 THEN f.s ELSE f.t END, CASE WHEN g % 3 = 0 THEN f.b END,
       CASE WHEN g % 5 = 0 THEN 'closed' ELSE 'active' END
  FROM f, generate_series(1, 30) g;
SELECT is(pg_temp.off(), 0::bigint, 'counts: a multi-row insert over two sources');

CREATE TEMP TABLE d AS SELECT crm_drain_source(f.t, 10) AS n FROM f;
SELECT is(pg_temp.off(), 0::bigint, 'counts: a drain batch') FROM f;

CREATE TEMP TABLE u AS SELECT tap.upd(q.w[1], 'closed', false, NULL) AS u1, tap.upd(q.w[2], NULL, true, NULL) AS u2 FROM q;
SELECT is(pg_temp.off(), 0::bigint, 'counts: a close and an unassign (each drains)');

UPDATE contacts c SET status = 'closed' FROM f WHERE c.source_id = f.t AND c.operator_id IS NULL;
SELECT is(pg_temp.off(), 0::bigint, 'counts: a multi-row status update');
UPDATE contacts c SET operator_id = f.a FROM f WHERE c.source_id = f.s AND c.operator_id = f.b;
SELECT is(pg_temp.off(), 0::bigint, 'counts: a multi-row operator change');

CREATE TEMP TABLE del AS
WITH d AS (DELETE FROM contacts c USING f WHERE c.source_id = f.s
              AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.contact_id = c.id) RETURNING 1)
SELECT count(*) AS n FROM d;
SELECT ok(del.n > 0, format('counts: (the delete removed %s rows)', del.n)) FROM del;
SELECT is(pg_temp.off(), 0::bigint, 'counts: a delete');

SELECT is((SELECT count(*) FROM source_operator_counts k, f WHERE k.source_id IN (f.s, f.t) AND k.assigned < 0)
          + (SELECT count(*) FROM source_waiting w, f WHERE w.source_id IN (f.s, f.t) AND w.waiting < 0),
          0::bigint, 'counts: never negative') FROM f;
SELECT is((SELECT count(*) FROM (SELECT source_id, id % 16 AS shard, count(*) AS n FROM contacts
                                  WHERE operator_id IS NULL AND status = 'active' GROUP BY 1, 2) r
             FULL JOIN (SELECT * FROM source_waiting WHERE waiting <> 0) w USING (source_id, shard)
            WHERE r.n IS DISTINCT FROM w.waiting), 0::bigint, 'counts: each waiting shard exact');

SELECT * FROM finish();
ROLLBACK;
