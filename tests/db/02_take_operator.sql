-- 02_take_operator.sql -- crm_take_operator: the one place a slot is taken (intake and backlog)
BEGIN;
SELECT plan(30);

CREATE TEMP TABLE f AS
SELECT tap.source() AS s, tap.source() AS other,
       tap.operator(true, 2) AS a, tap.operator(true, 2) AS b, tap.operator(false, 5) AS off,
       tap.operator(true, 0) AS zero, tap.operator(true, 5) AS stranger;
SELECT tap.configure(s, a), tap.configure(s, b), tap.configure(s, off), tap.configure(s, zero),
       tap.configure(other, stranger) FROM f;

-- the first eligible operator of the order is taken, with its load read under the lock
CREATE TEMP TABLE t1 AS SELECT t.* FROM f, LATERAL crm_take_operator(f.s, ARRAY[f.a, f.b], false) t;
SELECT is(t1.o_operator, f.a, 'take: the first operator of the order') FROM t1, f;
SELECT is(t1.o_load, 0, 'take: load before the take') FROM t1;
SELECT is(t1.o_limit, 2, 'take: the operator''s limit') FROM t1;
SELECT is(tap.loads(ARRAY[f.a, f.b]), '{1,0}'::integer[], 'take: exactly one slot of the chosen one') FROM f;

CREATE TEMP TABLE t2 AS SELECT t.* FROM f, LATERAL crm_take_operator(f.s, ARRAY[f.a, f.b], false) t;
SELECT is(t2.o_operator, f.a, 'take: limit-1 -> still taken (reaches the limit)') FROM t2, f;
SELECT is(t2.o_load, 1, 'take: load before was 1') FROM t2;
SELECT is(tap.loads(ARRAY[f.a, f.b]), '{2,0}'::integer[], 'take: a now at its limit') FROM f;

-- at the limit: passed over
CREATE TEMP TABLE t3 AS SELECT t.* FROM f, LATERAL crm_take_operator(f.s, ARRAY[f.a, f.b], false) t;
SELECT is(t3.o_operator, f.b, 'take: an operator at its limit is passed over') FROM t3, f;
SELECT is(tap.loads(ARRAY[f.a, f.b]), '{2,1}'::integer[], 'take: the full one unchanged, the next one +1') FROM f;

-- inactive: passed over, whatever its load
CREATE TEMP TABLE t4 AS SELECT t.* FROM f, LATERAL crm_take_operator(f.s, ARRAY[f.off, f.b], false) t;
SELECT is(t4.o_operator, f.b, 'take: an inactive operator is passed over') FROM t4, f;
SELECT is(tap.loads(ARRAY[f.off, f.b]), '{0,2}'::integer[], 'take: the inactive one gets nothing') FROM f;

-- limit 0: never
CREATE TEMP TABLE t5 AS SELECT t.* FROM f, LATERAL crm_take_operator(f.s, ARRAY[f.zero], false) t;
SELECT is(t5.o_operator, NULL, 'take: limit 0 takes nothing') FROM t5;
SELECT is(tap.load(f.zero), 0, 'take: limit 0 load unchanged') FROM f;

-- nobody eligible: NULLs, nothing changed
CREATE TEMP TABLE t6 AS SELECT t.* FROM f, LATERAL crm_take_operator(f.s, ARRAY[f.a, f.off, f.b, f.zero], false) t;
SELECT ok(t6.o_operator IS NULL AND t6.o_load IS NULL AND t6.o_limit IS NULL,
          'take: nobody eligible -> operator, load and limit NULL') FROM t6;
SELECT is(tap.loads(ARRAY[f.a, f.b, f.off, f.zero]), '{2,2,0,0}'::integer[], 'take: nobody eligible -> no load changed') FROM f;
SELECT is((crm_take_operator(f.s, '{}', false)).o_operator, NULL, 'take: empty order -> nobody') FROM f;

-- only operators still configured for THIS source: the order was drawn a moment before and the
-- configuration may have changed since
UPDATE operators SET max_load_limit = 10 FROM f WHERE id IN (f.a, f.b);
DELETE FROM source_operators so USING f WHERE so.source_id = f.s AND so.operator_id = f.a;
CREATE TEMP TABLE t7 AS SELECT t.* FROM f, LATERAL crm_take_operator(f.s, ARRAY[f.a, f.b], false) t;
SELECT is(t7.o_operator, f.b, 'take: an operator removed from the source after the order was drawn is passed over') FROM t7, f;
SELECT is(tap.load(f.a), 2, 'take: the removed operator gets no slot') FROM f;
CREATE TEMP TABLE t8 AS SELECT t.* FROM f, LATERAL crm_take_operator(f.s, ARRAY[f.a], false) t;
SELECT is(t8.o_operator, NULL, 'take: the removed operator alone -> nobody') FROM t8;
SELECT is(tap.load(f.a), 2, 'take: ... and its load unchanged') FROM f;
-- configured for another source only
CREATE TEMP TABLE t9 AS SELECT t.* FROM f, LATERAL crm_take_operator(f.s, ARRAY[f.stranger], false) t;
SELECT is(t9.o_operator, NULL, 'take: an operator of another source is never taken') FROM t9;
SELECT is(tap.load(f.stranger), 0, 'take: ... and its load unchanged') FROM f;
-- the same operator is taken for its own source
SELECT is((crm_take_operator(f.other, ARRAY[f.stranger], false)).o_operator, f.stranger,
          'take: ... but taken for its own source') FROM f;
-- an operator configured for the source again is taken again
SELECT tap.configure(s, a) FROM f;
SELECT is((crm_take_operator(f.s, ARRAY[f.a, f.b], false)).o_operator, f.a,
          'take: configured again -> taken again') FROM f;

-- exactly one slot per call, even when several are eligible
SELECT is(tap.loads(ARRAY[f.a, f.b, f.stranger]), '{3,3,1}'::integer[], 'take: one slot per call, no other load changed') FROM f;

-- with p_skip_locked and nobody else holding a lock, it behaves the same
CREATE TEMP TABLE t10 AS SELECT t.* FROM f, LATERAL crm_take_operator(f.s, ARRAY[f.off, f.a, f.b], true) t;
SELECT is(t10.o_operator, f.a, 'take (skip locked): first eligible of the order') FROM t10, f;
SELECT is(t10.o_load, 3, 'take (skip locked): load before') FROM t10;
SELECT is(t10.o_limit, 10, 'take (skip locked): limit') FROM t10;
UPDATE operators SET max_load_limit = 4 FROM f WHERE id = f.a;
SELECT is((crm_take_operator(f.s, ARRAY[f.a, f.b], true)).o_operator, f.b,
          'take (skip locked): an operator at its limit is passed over') FROM f;
SELECT is(tap.loads(ARRAY[f.a, f.b]), '{4,4}'::integer[], 'take (skip locked): loads') FROM f;

SELECT * FROM finish();
ROLLBACK;
