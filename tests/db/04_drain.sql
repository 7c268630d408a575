-- 04_drain.sql -- the backlog: crm_drain_source, crm_drain_sources, crm_drain_all (one session;
-- the two-session behaviour, SKIP LOCKED and NOTIFY, is in 90_two_sessions.sql)
BEGIN;
SELECT plan(42);

-- FIFO, oldest first, bounded by the operators' capacity -----------------------------------------
CREATE TEMP TABLE f AS SELECT tap.source() AS s, tap.operator(true, 2) AS a, tap.operator(false, 5) AS off;
SELECT tap.configure(s, a, 3), tap.configure(s, off, 100) FROM f;
SELECT tap.contact(f.s, NULL, 'closed') FROM f;  -- closed and unassigned, older than the queue: not waiting
CREATE TEMP TABLE q AS SELECT tap.waiting(f.s, 4) AS c FROM f;
-- the oldest one's row version moves to the end of the table: a scan in physical order would
-- now meet it last, the queue must still serve it first
UPDATE contacts SET status = 'active' FROM q WHERE id = q.c[1];
CREATE TEMP TABLE other AS SELECT tap.source() AS s;
SELECT tap.configure(other.s, f.a), tap.waiting(other.s, 1) FROM other, f;  -- another source's queue

SELECT is(crm_drain_source(f.s, 10), 2, 'drain: as many as the capacity allows (limit 2)') FROM f;
SELECT is(ARRAY[tap.operator_of(q.c[1]), tap.operator_of(q.c[2]), tap.operator_of(q.c[3]), tap.operator_of(q.c[4])],
          ARRAY[f.a, f.a, NULL, NULL], 'drain: the two oldest, in order') FROM q, f;
SELECT is(tap.loads(ARRAY[f.a, f.off]), '{2,0}'::integer[], 'drain: loads (never the inactive operator)') FROM f;
SELECT is((SELECT count(*) FROM contacts c, other WHERE c.source_id = other.s AND c.operator_id IS NULL), 1::bigint,
          'drain: another source''s queue is left alone');
SELECT is((SELECT count(*) FROM contacts c, f WHERE c.source_id = f.s AND c.status = 'closed' AND c.operator_id IS NULL),
          1::bigint, 'drain: a closed unassigned contact is not assigned');

-- the history rows
CREATE TEMP TABLE h AS SELECT a.* FROM q, LATERAL tap.last_assignment(q.c[2]) a;
SELECT is(h.reason, 'backlog', 'drain history: reason backlog') FROM h;
SELECT is(h.operator_id, f.a, 'drain history: the operator') FROM h, f;
SELECT is(h.load_before, 1, 'drain history: load before the take (the second one)') FROM h;
SELECT is(h.load_limit, 2, 'drain history: the limit') FROM h;
SELECT is(h.note, NULL, 'drain history: no note') FROM h;
SELECT is(tap.last_candidates(q.c[2]),
          jsonb_build_array(
              jsonb_build_object('operator_id', f.a, 'weight', 3, 'max_load_limit', 2, 'is_active', true, 'eligible', true),
              jsonb_build_object('operator_id', f.off, 'weight', 100, 'max_load_limit', 5, 'is_active', false, 'eligible', false)),
          'drain history: the candidates read before this contact''s take') FROM q, f;
SELECT is((SELECT load_before FROM tap.last_assignment(q.c[1])), 0, 'drain history: the first one took load 0') FROM q;
SELECT is(tap.history_count(q.c[3]), 0::bigint, 'drain history: no row for a contact still waiting') FROM q;

-- nobody eligible: nothing assigned, no operator row touched (not even taken and given back)
SELECT is(crm_drain_source(f.s, 10), 0, 'drain: the operator full -> 0') FROM f;
SELECT is(tap.loads(ARRAY[f.a, f.off]), '{2,0}'::integer[], 'drain: full -> loads unchanged') FROM f;
SELECT is(tap.operator_of(q.c[3]), NULL, 'drain: full -> still waiting') FROM q;

-- nobody waiting: no operator row is touched (the common case must stay cheap)
CREATE TEMP TABLE idle AS SELECT tap.source() AS s, tap.operator(true, 5) AS a;
SELECT tap.configure(s, a) FROM idle;
CREATE TEMP TABLE idle_before AS SELECT operators.ctid AS t FROM operators, idle WHERE id = idle.a;
SELECT is(crm_drain_source(idle.s, 10), 0, 'drain: nobody waiting -> 0') FROM idle;
SELECT is((SELECT ctid FROM operators WHERE id = idle.a), idle_before.t,
          'drain: nobody waiting -> the operator row is not even updated') FROM idle, idle_before;

-- the batch bound p_max ------------------------------------------------------------------------
UPDATE operators SET max_load_limit = 100 FROM f WHERE id = f.a;
SELECT is(crm_drain_source(f.s, 1), 1, 'drain: p_max 1 -> one') FROM f;
SELECT is(ARRAY[tap.operator_of(q.c[3]), tap.operator_of(q.c[4])], ARRAY[f.a, NULL], 'drain: p_max 1 -> the oldest waiting one') FROM q, f;
SELECT is(crm_drain_source(f.s, 0), 0, 'drain: p_max 0 -> none') FROM f;
SELECT is(tap.operator_of(q.c[4]), NULL, 'drain: p_max 0 -> still waiting') FROM q;
SELECT is(crm_drain_source(f.s, 5), 1, 'drain: p_max above the queue -> the queue') FROM f;
SELECT is(tap.load(f.a), 4, 'drain: a has the four') FROM f;

-- weights: every eligible operator may receive waiting contacts
CREATE TEMP TABLE wq AS SELECT tap.source() AS s, tap.operator(true, 100) AS a, tap.operator(true, 100) AS b;
SELECT tap.configure(s, a, 1), tap.configure(s, b, 1), tap.waiting(s, 60) FROM wq;
SELECT setseed(0.75);
SELECT is(crm_drain_source(wq.s, 100), 60, 'drain: 60 waiting, capacity enough -> 60') FROM wq;
SELECT ok(tap.load(wq.a) BETWEEN 15 AND 45 AND tap.load(wq.b) BETWEEN 15 AND 45,
          'drain: equal weights share the queue (each 15..45 of 60)') FROM wq;

-- crm_drain_sources: one budget over several sources ------------------------------------------
CREATE TEMP TABLE m AS SELECT tap.source() AS s1, tap.source() AS s2, tap.source() AS s3, tap.operator(true, 100) AS a;
SELECT tap.configure(s1, a), tap.configure(s2, a), tap.configure(s3, a) FROM m;
CREATE TEMP TABLE mq AS SELECT tap.waiting(m.s1, 3) AS c1, tap.waiting(m.s2, 3) AS c2, tap.waiting(m.s3, 1) AS c3 FROM m;
SELECT is(crm_drain_sources(ARRAY[m.s1, m.s2, m.s3], 4), 4, 'drain sources: budget 4 over 3 + 3 + 1 -> 4') FROM m;
SELECT is(ARRAY[(SELECT count(*) FROM unnest(c1) x WHERE tap.operator_of(x) IS NOT NULL),
                (SELECT count(*) FROM unnest(c2) x WHERE tap.operator_of(x) IS NOT NULL),
                (SELECT count(*) FROM unnest(c3) x WHERE tap.operator_of(x) IS NOT NULL)],
          '{3,1,0}'::bigint[], 'drain sources: in the order given, the first source fully, the second one partly') FROM mq;
SELECT is(tap.operator_of(mq.c2[1]), (SELECT a FROM m), 'drain sources: the second source''s oldest one') FROM mq;
SELECT is(crm_drain_sources(ARRAY[m.s1, m.s2, m.s3], 100), 3, 'drain sources: the rest') FROM m;
SELECT is(crm_drain_sources(NULL, 10), 0, 'drain sources: NULL list -> 0');
SELECT is(crm_drain_sources('{}', 10), 0, 'drain sources: empty list -> 0');
SELECT is(tap.load(m.a), 7, 'drain sources: 7 slots taken') FROM m;

-- crm_drain_all: every source with waiting contacts, p_max each ---------------------------------
-- (of the earlier fixtures, only other.s still has a waiting contact, and its operator f.a has
-- capacity again)
CREATE TEMP TABLE d AS SELECT tap.source() AS s1, tap.source() AS s2, tap.source() AS s3,
                              tap.operator(true, 100) AS a, tap.operator(true, 0) AS zero;
SELECT tap.configure(s1, a), tap.configure(s2, a), tap.configure(s3, zero) FROM d;
CREATE TEMP TABLE dq AS SELECT tap.waiting(d.s1, 3) AS c1, tap.waiting(d.s2, 1) AS c2, tap.waiting(d.s3, 2) AS c3 FROM d;
SELECT is(crm_drain_all(2), 4, 'drain all: 2 of s1, 1 of s2, none of s3 (nobody eligible), 1 of other.s');
SELECT is((SELECT count(*) FROM contacts c, other WHERE c.source_id = other.s AND c.operator_id IS NULL), 0::bigint,
          'drain all: other.s drained too');
SELECT is(ARRAY[(SELECT count(*) FROM unnest(c1) x WHERE tap.operator_of(x) IS NOT NULL),
                (SELECT count(*) FROM unnest(c2) x WHERE tap.operator_of(x) IS NOT NULL),
                (SELECT count(*) FROM unnest(c3) x WHERE tap.operator_of(x) IS NOT NULL)],
          '{2,1,0}'::bigint[], 'drain all: at most p_max per source') FROM dq;
SELECT is(tap.operator_of(dq.c1[3]), NULL, 'drain all: the youngest of s1 still waits') FROM dq;
SELECT is(crm_drain_all(2), 1, 'drain all: the next pass takes the rest it can') FROM d;
SELECT is(crm_drain_all(2), 0, 'drain all: then nothing') FROM d;

-- FIFO whatever the plan: the queue read by a sequential scan, the oldest row version moved last
DISCARD PLANS;
SET LOCAL enable_indexscan = off;
SET LOCAL enable_bitmapscan = off;
CREATE TEMP TABLE fq AS SELECT tap.source() AS s, tap.operator(true, 1) AS a;
SELECT tap.configure(s, a) FROM fq;
ALTER TABLE fq ADD COLUMN w bigint[];
UPDATE fq SET w = tap.waiting(s, 3);
UPDATE contacts SET status = 'active' FROM fq WHERE id = fq.w[1];
SELECT is(crm_drain_source(fq.s, 1), 1, 'FIFO, sequential scan: one assigned') FROM fq;
SELECT is(tap.operator_of(fq.w[1]), fq.a, 'FIFO, sequential scan: the oldest one, not the first row met') FROM fq;
RESET enable_indexscan;
RESET enable_bitmapscan;
DISCARD PLANS;

SELECT ok(tap.counts_exact(), 'every operator''s active_contacts equals its active contacts');
SELECT * FROM finish();
ROLLBACK;
