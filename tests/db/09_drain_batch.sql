-- 09_drain_batch.sql -- crm_drain_source as one set-based batch: the weighted draw, the free
-- slots of each operator, the batch bound, the history of each contact of the batch, and an
-- idle source costing no operator lock (issue 11)
BEGIN;
SELECT plan(17);

-- the draw follows the weights within one batch -------------------------------------------------
-- 400 contacts, weights 9 and 1, room for all: the heavy one gets 360 on average (sd 6)
CREATE TEMP TABLE w AS SELECT tap.source() AS s, tap.operator(true, 1000) AS heavy, tap.operator(true, 1000) AS light;
SELECT tap.configure(s, heavy, 9), tap.configure(s, light, 1) FROM w;
SELECT tap.waiting(s, 400) FROM w;
SELECT is(crm_drain_source(w.s, 400), 400, 'batch: the whole queue in one call') FROM w;
SELECT ok(tap.load(w.heavy) BETWEEN 320 AND 395,
          format('batch: weight 9 of 10 gets about 9/10 of the contacts (%s of 400)', tap.load(w.heavy))) FROM w;
SELECT is(tap.load(w.heavy) + tap.load(w.light), 400, 'batch: every contact counted once') FROM w;

-- each operator's free slots bound its takes ------------------------------------------------------
-- one slot left at a huge weight, ten at weight 1: of 5 contacts the heavy one takes exactly one
CREATE TEMP TABLE c AS SELECT tap.source() AS s, tap.operator(true, 1) AS tiny, tap.operator(true, 10) AS roomy;
SELECT tap.configure(s, tiny, 100000), tap.configure(s, roomy, 1) FROM c;
CREATE TEMP TABLE cq AS SELECT tap.waiting(c.s, 5) AS q FROM c;
SELECT is(crm_drain_source(c.s, 10), 5, 'slots: all five assigned') FROM c;
SELECT is(tap.loads(ARRAY[c.tiny, c.roomy]), '{1,4}'::integer[], 'slots: the one-slot operator takes one, never more') FROM c;

-- the batch bound, and the capacity bound ------------------------------------------------------
CREATE TEMP TABLE b AS SELECT tap.source() AS s, tap.operator(true, 3) AS a, tap.operator(true, 2) AS z;
SELECT tap.configure(s, a), tap.configure(s, z) FROM b;
CREATE TEMP TABLE bq AS SELECT tap.waiting(b.s, 8) AS q FROM b;
SELECT is(crm_drain_source(b.s, 2), 2, 'bound: p_max 2 of 8 waiting') FROM b;
SELECT is((SELECT count(*) FROM unnest(bq.q) x WHERE tap.operator_of(x) IS NOT NULL), 2::bigint,
          'bound: two contacts assigned') FROM bq;
SELECT is(ARRAY[tap.operator_of(bq.q[1]) IS NOT NULL, tap.operator_of(bq.q[2]) IS NOT NULL, tap.operator_of(bq.q[3]) IS NULL],
          ARRAY[true, true, true], 'bound: the two oldest') FROM bq;
SELECT is(crm_drain_source(b.s, 100), 3, 'capacity: the five slots in all, then nobody eligible') FROM b;
SELECT is(tap.loads(ARRAY[b.a, b.z]), '{3,2}'::integer[], 'capacity: both full, never past the limit') FROM b;
SELECT is(crm_drain_source(b.s, 100), 0, 'capacity: nobody eligible -> 0') FROM b;

-- the history of a batch: each row as the candidates were just before its own take -----------------
-- (cq: five contacts of one batch; tiny's one slot is used by one of them: both eligible up to
-- that take, roomy alone after it)
SELECT is((SELECT array_agg(n ORDER BY a.id)
             FROM assignments a JOIN unnest(cq.q) x ON x = a.contact_id,
                  LATERAL (SELECT count(*) FILTER (WHERE (e ->> 'eligible')::boolean)::integer AS n
                             FROM crm_history(a.contact_id) h, jsonb_array_elements(h.candidates::jsonb) e
                            WHERE h.id = a.id) l),
          (SELECT array_agg(CASE WHEN a.id <= t.id THEN 2 ELSE 1 END ORDER BY a.id)
             FROM assignments a JOIN unnest(cq.q) x ON x = a.contact_id,
                  (SELECT a2.id FROM assignments a2 JOIN unnest(cq.q) y ON y = a2.contact_id
                    WHERE a2.operator_id = c.tiny) t),
          'history: an operator whose last slot an earlier take of the batch used is not eligible') FROM cq, c;
SELECT is((SELECT count(*) FROM assignments a JOIN unnest(cq.q) x ON x = a.contact_id,
                  crm_history(a.contact_id) h, jsonb_array_elements(h.candidates::jsonb) e
            WHERE h.id = a.id AND (e ->> 'operator_id')::bigint = a.operator_id AND (e ->> 'eligible')::boolean
              AND (e ->> 'max_load_limit')::integer = a.load_limit), 5::bigint,
          'history: the chosen one is an eligible candidate with the limit the row shows') FROM cq;
SELECT is((SELECT array_agg(a.load_before ORDER BY a.id) FROM assignments a JOIN unnest(cq.q) x ON x = a.contact_id
            WHERE a.operator_id = c.roomy), ARRAY[0, 1, 2, 3], 'history: load_before counts up per operator')
  FROM cq, c;

-- nobody waiting: no operator row is even locked ------------------------------------------------
-- (committed by another session, so that a third one can try to lock the row: a source and an
-- operator without contacts, which no other file's walk over the queues can meet)
SELECT tap.connect('setup09'), tap.connect('probe09');
CREATE TEMP TABLE idle AS
SELECT tap.remote('setup09', 'SELECT tap.source()') AS s, tap.remote('setup09', 'SELECT tap.operator(true, 5)') AS a;
SELECT tap.run('setup09', format('SELECT tap.configure(%s, %s)', s, a)) FROM idle;
SELECT is(crm_drain_source(idle.s, 10), 0, 'idle: nobody waiting -> 0') FROM idle;
SELECT is(tap.remote('probe09', format('SELECT count(*) FROM (SELECT 1 FROM operators WHERE id = %s'
                                        ' FOR NO KEY UPDATE SKIP LOCKED) t', idle.a)), 1::bigint,
          'idle: the operator row not locked (another session can take it)') FROM idle;
SELECT dblink_disconnect('setup09'), dblink_disconnect('probe09');

SELECT ok(tap.counts_exact(), 'every counter equals its real count');

SELECT * FROM finish();
ROLLBACK;
