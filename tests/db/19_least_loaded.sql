-- 19_least_loaded.sql -- the least-loaded mode (0015 sources.mode; 20_candidates.sql crm_least_loaded_order,
-- 30_intake.sql step 5, 40_backlog.sql, 47_accept.sql crm_order_without): the smallest load / weight,
-- ties split by weight, the ineligible skipped, nobody -> waits, the history, the drains
BEGIN;
SELECT plan(35);

CREATE FUNCTION pg_temp.latest(p_source bigint) RETURNS integer
LANGUAGE sql AS $$ SELECT max(version) FROM source_versions WHERE source_id = p_source $$;

-- the column ---------------------------------------------------------------------------------------
CREATE TEMP TABLE f AS
SELECT tap.source() AS s, tap.operator(true, 10) AS a, tap.operator(true, 10) AS b, tap.operator(true, 10) AS c;
SELECT is((SELECT mode FROM sources WHERE id = f.s), 'weighted_random', 'mode: weighted_random by default') FROM f;
SELECT throws_ok($$UPDATE sources SET mode = 'LEAST' WHERE id = (SELECT s FROM f)$$, '23514', NULL,
                 'mode: an unknown value -> the check constraint');
SELECT is((SELECT conname::text FROM pg_constraint WHERE conrelid = 'sources'::regclass AND conname = 'sources_mode'),
          'sources_mode', 'mode: the constraint src/pg.c maps to 422 mode');
SELECT throws_ok($$UPDATE sources SET mode = NULL WHERE id = (SELECT s FROM f)$$, '23502', NULL, 'mode: not null');
UPDATE sources SET mode = 'least_loaded' FROM f WHERE id = f.s;

-- the smallest load / weight -----------------------------------------------------------------------
-- a: load 2, weight 1 -> 2; b: load 2, weight 2 -> 1; c: load 3, weight 1 -> 3
SELECT tap.configure(f.s, f.a, 1), tap.configure(f.s, f.b, 2), tap.configure(f.s, f.c, 1) FROM f;
SELECT tap.fill(f.s, f.a, 2), tap.fill(f.s, f.b, 2), tap.fill(f.s, f.c, 3) FROM f;
CREATE TEMP TABLE i1 AS SELECT i.* FROM f, LATERAL crm_intake('ll1@tap.test', f.s) i;
SELECT is(i1.operator_id, f.b, 'intake: the smallest load / weight (2/2 < 2/1 < 3/1)') FROM i1, f;
SELECT is(tap.loads(ARRAY[f.a, f.b, f.c]), '{2,3,3}'::integer[], 'intake: one slot of the chosen operator') FROM f;
SELECT is(crm_least_loaded_order(f.s, pg_temp.latest(f.s), NULL), ARRAY[f.b, f.a, f.c],
          'order: b (3/2) before a (2/1) before c (3/1)') FROM f;
SELECT is(crm_least_loaded_order(f.s, pg_temp.latest(f.s), 2), ARRAY[f.b, f.a], 'order: the first p_limit') FROM f;
-- the history says the mode and that everybody was eligible
SELECT is((SELECT row(h.reason, h.note, h.load_before, h.load_limit, h.ineligible)::text
             FROM assignment_history h WHERE h.contact_id = i1.id), '(intake,least_loaded,2,10,)',
          'history: reason intake, note least_loaded, load before and limit, nobody ineligible') FROM i1;
SELECT is((SELECT array_agg((e ->> 'eligible')::boolean ORDER BY e ->> 'operator_id')
             FROM jsonb_array_elements(tap.last_candidates(i1.id)) e), '{t,t,t}'::boolean[],
          'history: the note is not "nobody": every candidate shown eligible') FROM i1;

-- equal keys: 2/1 (a) and 4/2 (b after one more) tie, c (3/1) never
SELECT tap.fill(f.s, f.b, 1) FROM f;
CREATE TEMP TABLE tie AS
SELECT (crm_least_loaded_order(f.s, pg_temp.latest(f.s), 1))[1] AS first FROM f, generate_series(1, 600);
SELECT is((SELECT count(*) FROM tie, f WHERE tie.first = f.c), 0::bigint, 'tie: the larger key never first') FROM f;
-- b has weight 2: first with probability 2/3 (binomial sd of 600 draws: 11.5; +-60 is 5 sd)
SELECT ok((SELECT count(*) FROM tie, f WHERE tie.first = f.b) BETWEEN 340 AND 460,
          'tie: split by weight, b (weight 2) first in about 2/3 of 600 draws');

-- the ineligible are skipped ---------------------------------------------------------------------
CREATE TEMP TABLE g AS
SELECT tap.source() AS s, tap.operator(false, 10) AS inactive, tap.operator(true, 1) AS full_,
       tap.operator(true, 10) AS off, tap.operator(true, 10) AS ok_;
UPDATE sources SET mode = 'least_loaded' FROM g WHERE id = g.s;
SELECT tap.configure(g.s, g.inactive, 1), tap.configure(g.s, g.full_, 1), tap.configure(g.s, g.off, 1),
       tap.configure(g.s, g.ok_, 1) FROM g;
SELECT tap.fill(g.s, g.full_, 1), tap.fill(g.s, g.ok_, 5) FROM g;
UPDATE operators SET on_shift = false FROM g WHERE id = g.off;
CREATE TEMP TABLE i2 AS SELECT i.* FROM g, LATERAL crm_intake('ll2@tap.test', g.s) i;
SELECT is(i2.operator_id, g.ok_, 'intake: inactive (load 0), at limit and off shift (load 0) skipped for load 5')
  FROM i2, g;
SELECT is((SELECT h.ineligible FROM assignment_history h WHERE h.contact_id = i2.id), ARRAY[g.full_],
          'history: the active one at its limit is ineligible (inactive and off shift are not drawn at all)')
  FROM i2, g;
SELECT is(crm_least_loaded_order(g.s, pg_temp.latest(g.s), NULL), ARRAY[g.ok_],
          'order: only the eligible ones') FROM g;

-- all full -> the contact waits ------------------------------------------------------------------
SELECT tap.fill(g.s, g.ok_, 4) FROM g;
CREATE TEMP TABLE i3 AS SELECT i.* FROM g, LATERAL crm_intake('ll3@tap.test', g.s) i;
SELECT is(i3.operator_id, NULL, 'all full: the contact waits') FROM i3;
SELECT is((SELECT h.note FROM assignment_history h WHERE h.contact_id = i3.id), 'all at limit',
          'all full: the history says why') FROM i3;
SELECT is(tap.loads(ARRAY[g.full_, g.ok_]), '{1,10}'::integer[], 'all full: no load changed') FROM g;

-- the drains follow the mode -----------------------------------------------------------------------
CREATE TEMP TABLE d AS SELECT tap.source() AS s, tap.operator(true, 10) AS p, tap.operator(true, 10) AS q;
UPDATE sources SET mode = 'least_loaded' FROM d WHERE id = d.s;
SELECT tap.configure(d.s, d.p, 1), tap.configure(d.s, d.q, 1) FROM d;
SELECT tap.fill(d.s, d.q, 4) FROM d;
CREATE TEMP TABLE dw AS SELECT unnest(tap.waiting(d.s, 4)) AS id FROM d;
SELECT is(crm_drain_source(d.s, 10), 4, 'drain: four waiting assigned') FROM d;
SELECT is(tap.loads(ARRAY[d.p, d.q]), '{4,4}'::integer[], 'drain: all four to the less loaded one (0..3 < 4)') FROM d;
SELECT is((SELECT count(*) FROM assignment_history h JOIN dw ON dw.id = h.contact_id
            WHERE h.reason = 'backlog' AND h.note = 'least_loaded'), 4::bigint, 'drain: history rows note least_loaded');
SELECT tap.waiting(d.s, 2) FROM d;
SELECT is(crm_drain_source(d.s, 10), 2, 'drain: two more') FROM d;
SELECT is(tap.loads(ARRAY[d.p, d.q]), '{5,5}'::integer[], 'drain: a tie of two takes one each') FROM d;
-- weight 3 against 1: from loads 5, 5 the slots of q (weight 3) at 5/3, 6/3, 7/3... come first
UPDATE source_operators SET weight = 3 FROM d WHERE source_id = d.s AND operator_id = d.q;
SELECT tap.waiting(d.s, 3) FROM d;
SELECT is(crm_drain_source(d.s, 10), 3, 'drain: three more') FROM d;
SELECT is(tap.loads(ARRAY[d.p, d.q]), '{5,8}'::integer[], 'drain: by load / weight (5/3, 6/3, 7/3 < 5/1)') FROM d;
SELECT ok(tap.counts_exact(), 'drain: counters exact');

-- a big source (more active operators than 4 x the batch): no weighted draws in least-loaded mode
CREATE TEMP TABLE big AS SELECT tap.source() AS s;
UPDATE sources SET mode = 'least_loaded' FROM big WHERE id = big.s;
CREATE TEMP TABLE bigops AS SELECT tap.operator(true, 10) AS o, g AS n FROM generate_series(1, 9) g;
SELECT tap.configure(big.s, bigops.o, 1) FROM big, bigops;
SELECT tap.fill(big.s, bigops.o, 3) FROM big, bigops WHERE bigops.n <> 7;
SELECT tap.waiting(big.s, 1) FROM big;
SELECT is(crm_drain_source(big.s, 1), 1, 'big source: one drained with a batch of 1') FROM big;
SELECT is((SELECT tap.load(o) FROM bigops WHERE n = 7), 1, 'big source: to the only empty operator') FROM big;

-- a contact some operator let lapse: offered by load / weight, never to the lapsed one
CREATE TEMP TABLE l AS SELECT tap.source() AS s, tap.operator(true, 10) AS x, tap.operator(true, 10) AS y,
                              tap.operator(true, 10) AS z;
UPDATE sources SET mode = 'least_loaded' FROM l WHERE id = l.s;
SELECT tap.configure(l.s, l.x, 1), tap.configure(l.s, l.y, 1), tap.configure(l.s, l.z, 1) FROM l;
SELECT tap.fill(l.s, l.y, 2), tap.fill(l.s, l.z, 1) FROM l;
SELECT is(crm_order_without(l.s, ARRAY[l.x]), ARRAY[l.z, l.y], 'lapsed: by load, without the lapsed x (load 0)')
  FROM l;
CREATE TEMP TABLE lc AS SELECT tap.contact(l.s) AS id FROM l;
UPDATE contacts SET lapsed = ARRAY[l.x] FROM l WHERE id = (SELECT id FROM lc);
SELECT is(crm_drain_source(l.s, 10), 1, 'lapsed: drained') FROM l;
SELECT is(tap.operator_of((SELECT id FROM lc)), l.z, 'lapsed: to the least loaded one not lapsed') FROM l;
SELECT is((SELECT h.note FROM assignment_history h WHERE h.contact_id = (SELECT id FROM lc)), 'least_loaded',
          'lapsed: history notes the mode');

-- a weighted-random source is unchanged: no note
CREATE TEMP TABLE wr AS SELECT tap.source() AS s, tap.operator(true, 10) AS a;
SELECT tap.configure(wr.s, wr.a, 1) FROM wr;
CREATE TEMP TABLE i4 AS SELECT i.* FROM wr, LATERAL crm_intake('ll4@tap.test', wr.s) i;
SELECT is((SELECT row(h.operator_id = wr.a, h.note)::text FROM assignment_history h WHERE h.contact_id = i4.id),
          '(t,)', 'weighted_random: chosen, no note') FROM i4, wr;

-- another session holds the least-loaded operator: the intake takes the next one, without waiting
SET LOCAL lock_timeout = '3s';
SELECT tap.connect('ll_setup'), tap.connect('ll_lock');
CREATE TEMP TABLE k AS
SELECT tap.remote('ll_setup', 'SELECT tap.source()') AS s, tap.remote('ll_setup', 'SELECT tap.operator(true, 5)') AS x,
       tap.remote('ll_setup', 'SELECT tap.operator(true, 5)') AS y;
SELECT dblink_exec('ll_setup', format('UPDATE sources SET mode = ''least_loaded'' WHERE id = %s', s)) FROM k;
SELECT tap.run('ll_setup', format('SELECT tap.configure(%s, %s), tap.configure(%s, %s), tap.fill(%s, %s, 1)',
                                  s, x, s, y, s, y)) FROM k;
SELECT dblink_exec('ll_lock', 'BEGIN');
SELECT tap.run('ll_lock', format('SELECT 1 FROM operators WHERE id = %s FOR NO KEY UPDATE', x)) FROM k;
CREATE TEMP TABLE i5 (operator_id bigint);
SELECT lives_ok(format('INSERT INTO i5 SELECT operator_id FROM crm_intake(''ll5@tap.test'', %s)', k.s),
                'held: the intake does not wait for the least-loaded operator another session holds') FROM k;
SELECT is((SELECT operator_id FROM i5), k.y, 'held: it takes the next one (load 1 > 0)') FROM k;
SELECT dblink_exec('ll_lock', 'ROLLBACK');

SELECT * FROM finish();
ROLLBACK;
