-- 07_drain_next.sql -- crm_drain_next: the drainer's step, one batch of one source per call
-- (the drainer calls it in autocommit, walking the sources by id; see src/service_backlog.c)
BEGIN;
SELECT plan(24);

CREATE FUNCTION pg_temp.step(p_after bigint, p_max integer) RETURNS bigint[]
LANGUAGE sql AS $$ SELECT ARRAY[o_source, o_assigned] FROM crm_drain_next(p_after, p_max) $$;

-- the order is by source id, not by which queue got its contacts first, whatever the plan
-- (a sequential scan meets the older queue first; first in the file, so that plpgsql's plan
-- of crm_drain_next is made with these settings)
SET LOCAL enable_indexscan = off;
SET LOCAL enable_bitmapscan = off;
SET LOCAL enable_indexonlyscan = off;
CREATE TEMP TABLE g AS SELECT tap.source() AS e, tap.source() AS h, tap.operator(true, 10) AS op;
SELECT tap.configure(e, op), tap.configure(h, op) FROM g;
SELECT tap.waiting(h, 1) FROM g;  -- the later source's queue is older
SELECT tap.waiting(e, 1) FROM g;
SELECT is(pg_temp.step(g.e - 1, 5), ARRAY[g.e, 1], 'drain next: sources in id order') FROM g;
SELECT is(pg_temp.step(e, 5), ARRAY[h, 1], 'drain next: then the later one') FROM g;

SET LOCAL enable_indexscan = on;
SET LOCAL enable_bitmapscan = on;
SET LOCAL enable_indexonlyscan = on;

-- a: 3 waiting with capacity; b: only a closed unassigned contact (nobody waiting);
-- c: 2 waiting, nobody eligible; d: 3 waiting with capacity
CREATE TEMP TABLE f AS
SELECT tap.source() AS a, tap.source() AS b, tap.source() AS c, tap.source() AS d,
       tap.operator(true, 10) AS op_a, tap.operator(true, 0) AS op_c, tap.operator(true, 10) AS op_d;
SELECT tap.configure(a, op_a), tap.configure(b, op_a), tap.configure(c, op_c), tap.configure(d, op_d) FROM f;
SELECT tap.contact(b, NULL, 'closed') FROM f;
CREATE TEMP TABLE q AS SELECT tap.waiting(f.a, 3) AS qa, tap.waiting(f.c, 2) AS qc, tap.waiting(f.d, 3) AS qd FROM f;

-- the first walk, batches of 2
SELECT is(pg_temp.step(a - 1, 2), ARRAY[a, 2], 'drain next: the first source with waiting contacts, one batch of it') FROM f;
SELECT is(ARRAY[tap.operator_of(qa[1]), tap.operator_of(qa[2]), tap.operator_of(qa[3])], ARRAY[f.op_a, f.op_a, NULL],
          'drain next: the batch bound, oldest first') FROM q, f;
SELECT is(pg_temp.step(a, 2), ARRAY[c, 0], 'drain next: strictly after p_after; a source with nobody waiting (only a closed contact) is passed over') FROM f;
SELECT is(ARRAY[tap.operator_of(qc[1]), tap.operator_of(qc[2])], ARRAY[NULL, NULL]::bigint[],
          'drain next: nobody eligible -> still waiting') FROM q;
SELECT is(tap.load(op_c), 0, 'drain next: nobody eligible -> the full operator untouched') FROM f;
SELECT is(pg_temp.step(c, 2), ARRAY[d, 2], 'drain next: then the next source') FROM f;
SELECT is(pg_temp.step(d, 2), ARRAY[NULL, 0]::bigint[], 'drain next: past the last source -> NULL, 0') FROM f;

-- the second walk, batches of 10: what the first one left
SELECT is(pg_temp.step(a - 1, 10), ARRAY[a, 1], 'second walk: the rest of a') FROM f;
SELECT is(tap.operator_of(qa[3]), f.op_a, 'second walk: a''s last one') FROM q, f;
SELECT is(pg_temp.step(a, 10), ARRAY[c, 0], 'second walk: c still has nobody eligible') FROM f;
SELECT is(pg_temp.step(c, 10), ARRAY[d, 1], 'second walk: the rest of d') FROM f;
SELECT is(pg_temp.step(d, 10), ARRAY[NULL, 0]::bigint[], 'second walk: done') FROM f;
-- a third walk finds only c (nothing assigned: the drainer stops walking)
SELECT is(pg_temp.step(a - 1, 10), ARRAY[c, 0], 'third walk: only c has anyone waiting') FROM f;
SELECT is(pg_temp.step(c, 10), ARRAY[NULL, 0]::bigint[], 'third walk: done') FROM f;

SELECT is(tap.loads(ARRAY[op_a, op_c, op_d]), '{3,0,3}'::integer[], 'drain next: the loads') FROM f;
SELECT ok(tap.counts_exact(), 'drain next: every counter equals its real count');
SELECT is((tap.last_assignment(qd[3])).reason, 'backlog', 'drain next: history reason backlog') FROM q;
SELECT is((tap.last_assignment(qd[3])).load_before, 2, 'drain next: history load before the take') FROM q;
SELECT is(tap.history_count(qc[1]), 0::bigint, 'drain next: no history for a contact still waiting') FROM q;

-- p_max 0: the source is found, nothing is assigned
SELECT tap.waiting(d, 1) FROM f;
SELECT is(pg_temp.step(c, 0), ARRAY[d, 0], 'drain next: p_max 0 -> the source, none assigned') FROM f;
SELECT is(tap.load(op_d), 3, 'drain next: p_max 0 -> load unchanged') FROM f;
SELECT is(pg_temp.step(c, 1), ARRAY[d, 1], 'drain next: p_max 1 -> one') FROM f;

SELECT * FROM finish();
ROLLBACK;
