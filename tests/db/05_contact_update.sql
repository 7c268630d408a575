-- 05_contact_update.sql -- crm_contact_update: every transition and every refusal of a contact
-- tap.upd(contact, status, set_operator, operator[, batch]) is the error code or 'ok'.
BEGIN;
SELECT plan(92);

CREATE TEMP TABLE f AS
SELECT tap.source() AS s, tap.operator(true, 2) AS a, tap.operator(true, 2) AS b,
       tap.operator(false, 5) AS off, tap.operator(true, 1) AS fullop, tap.operator(true, 5) AS stranger;
SELECT tap.configure(s, a), tap.configure(s, b), tap.configure(s, off), tap.configure(s, fullop),
       tap.configure(tap.source(), stranger) FROM f;
SELECT tap.fill(s, fullop, 1) FROM f;

-- not found -----------------------------------------------------------------------------------
SELECT is(tap.upd(-1, 'closed', false, NULL), 'not_found', 'not found: unknown contact');
SELECT is((SELECT o_contact FROM crm_contact_update(-1, 'closed', false, NULL, 32)) IS NULL, true,
          'not found: no contact returned');

-- close and reopen ----------------------------------------------------------------------------
CREATE TEMP TABLE c AS SELECT tap.contact(f.s, f.a) AS c1 FROM f;
CREATE TEMP TABLE r1 AS SELECT r.* FROM c, LATERAL crm_contact_update(c.c1, 'closed', false, NULL, 32) r;
SELECT is(r1.o_error::text, NULL, 'close: no error') FROM r1;
SELECT is((r1.o_contact).status, 'closed', 'close: the contact returned is closed') FROM r1;
SELECT is((r1.o_contact).operator_id, f.a, 'close: ... and keeps its operator') FROM r1, f;
SELECT is(tap.status_of(c.c1), 'closed', 'close: stored closed') FROM c;
SELECT is(tap.load(f.a), 0, 'close: frees one unit of the operator''s load') FROM f;
SELECT is(tap.history_count(c.c1), 0::bigint, 'close: no assignment history row (the operator did not change)') FROM c;

SELECT is(tap.upd(c.c1, 'closed', false, NULL), 'ok', 'close a closed contact: ok') FROM c;
SELECT is(tap.load(f.a), 0, 'close a closed contact: the load is not freed twice') FROM f;

SELECT is(tap.upd(c.c1, 'active', false, NULL), 'ok', 'reopen: ok') FROM c;
SELECT is(tap.status_of(c.c1), 'active', 'reopen: stored active') FROM c;
SELECT is(tap.load(f.a), 1, 'reopen: counts again') FROM f;
SELECT is(tap.upd(c.c1, 'active', false, NULL), 'ok', 'active on an active contact: ok') FROM c;
SELECT is(tap.load(f.a), 1, 'active on an active contact: not counted twice') FROM f;
SELECT is(tap.upd(c.c1, NULL, false, NULL), 'ok', 'nothing asked: ok') FROM c;
SELECT is(tap.load(f.a), 1, 'nothing asked: load unchanged') FROM f;

-- reopen up to and past the limit (a: limit 2)
ALTER TABLE c ADD COLUMN c2 bigint, ADD COLUMN c3 bigint;
UPDATE c SET c2 = tap.contact(f.s, f.a, 'closed'), c3 = tap.contact(f.s, f.a, 'closed') FROM f;
SELECT is(tap.upd(c.c2, 'active', false, NULL), 'ok', 'reopen at limit-1: ok') FROM c;
SELECT is(tap.load(f.a), 2, 'reopen at limit-1: the operator reaches its limit') FROM f;
CREATE TEMP TABLE s3 AS SELECT tap.state(c.c3) AS st FROM c;
SELECT is(tap.upd(c.c3, 'active', false, NULL), 'at_limit', 'reopen past the limit: at_limit') FROM c;
SELECT is(tap.state(c.c3), s3.st, 'reopen past the limit: nothing written') FROM c, s3;
SELECT is(tap.status_of(c.c3), 'closed', 'reopen past the limit: still closed') FROM c;

-- a closed contact of a full or inactive operator can be closed and its operator kept
SELECT is(tap.upd(c.c3, 'closed', false, NULL), 'ok', 'closing a closed contact of a full operator: ok') FROM c;
UPDATE operators SET is_active = false FROM f WHERE id = f.a;
SELECT is(tap.upd(c.c2, 'closed', false, NULL), 'ok', 'close a contact of an inactive operator: ok') FROM c;
SELECT is(tap.load(f.a), 1, 'close a contact of an inactive operator: frees its load') FROM f;
SELECT is(tap.upd(c.c2, 'active', false, NULL), 'ok', 'reopen a contact of an inactive operator: ok (no hand-pick)') FROM c;
SELECT is(tap.load(f.a), 2, 'reopen a contact of an inactive operator: counts again') FROM f;
UPDATE operators SET is_active = true FROM f WHERE id = f.a;
SELECT is(tap.upd(c.c2, 'closed', false, NULL), 'ok', 'close a contact of a full operator: ok') FROM c;
SELECT is(tap.load(f.a), 1, 'close a contact of a full operator: frees its load') FROM f;

-- reassign ------------------------------------------------------------------------------------
-- c1 (active, a, a's load 1) -> b (load 0)
-- the candidates as the API shows them, each eligible when active and below its limit before the move
CREATE TEMP TABLE snap AS
SELECT jsonb_agg(jsonb_build_object('operator_id', e->'operator_id', 'weight', e->'weight',
                                    'max_load_limit', e->'max_load_limit', 'is_active', e->'is_active',
                                    'eligible', (e->>'is_active')::boolean
                                                AND (e->>'load')::integer < (e->>'max_load_limit')::integer)
                 ORDER BY (e->>'operator_id')::bigint) AS before
  FROM f, jsonb_array_elements(crm_candidates_snapshot(f.s)) e;
CREATE TEMP TABLE r2 AS SELECT r.* FROM c, f, LATERAL crm_contact_update(c.c1, NULL, true, f.b, 32) r;
SELECT is(r2.o_error::text, NULL, 'reassign: no error') FROM r2;
SELECT is((r2.o_contact).operator_id, f.b, 'reassign: the contact returned has the new operator') FROM r2, f;
SELECT is(tap.operator_of(c.c1), f.b, 'reassign: stored') FROM c, f;
SELECT is(tap.loads(ARRAY[f.a, f.b]), '{0,1}'::integer[], 'reassign: one unit moves from a to b') FROM f;
CREATE TEMP TABLE h2 AS SELECT a.* FROM c, LATERAL tap.last_assignment(c.c1) a;
SELECT is(h2.reason, 'manual', 'reassign history: reason manual') FROM h2;
SELECT is(h2.operator_id, f.b, 'reassign history: the new operator') FROM h2, f;
SELECT is(h2.load_before, 0, 'reassign history: its load before') FROM h2;
SELECT is(h2.load_limit, 2, 'reassign history: its limit') FROM h2;
SELECT is(h2.note, NULL, 'reassign history: no note') FROM h2;
SELECT is(tap.last_candidates(c.c1), snap.before, 'reassign history: the candidates as they were before the move') FROM c, snap;
SELECT is(tap.history_count(c.c1), 1::bigint, 'reassign history: exactly one row') FROM c;

-- to the operator it already has: nothing to check, nothing written, even when that one is full
SELECT tap.fill(f.s, f.b, 1) FROM f;  -- b: 2 of 2
SELECT is(tap.upd(c.c1, NULL, true, f.b), 'ok', 'same operator, full: ok (not a move)') FROM c, f;
SELECT is(tap.history_count(c.c1), 1::bigint, 'same operator: no history row') FROM c;
SELECT is(tap.load(f.b), 2, 'same operator: load unchanged') FROM f;
UPDATE operators SET is_active = false FROM f WHERE id = f.b;
SELECT is(tap.upd(c.c1, 'active', true, f.b), 'ok', 'same operator, inactive, status active: ok') FROM c, f;
SELECT is(tap.load(f.b), 2, 'same operator, status active: load unchanged') FROM f;
UPDATE operators SET is_active = true FROM f WHERE id = f.b;

-- the refusals of a hand-picked operator: nothing written --------------------------------------
CREATE TEMP TABLE s4 AS SELECT tap.state(c.c1) AS st FROM c;
SELECT is(tap.upd(c.c1, NULL, true, 9223372036854775807), 'unknown_operator', 'reassign: unknown operator') FROM c;
SELECT is(tap.state(c.c1), s4.st, 'unknown operator: nothing written') FROM c, s4;
SELECT is(tap.upd(c.c1, NULL, true, f.stranger), 'not_configured', 'reassign: operator not configured for the source') FROM c, f;
SELECT is(tap.state(c.c1), s4.st, 'not configured: nothing written') FROM c, s4;
SELECT is(tap.upd(c.c1, NULL, true, f.off), 'inactive', 'reassign: inactive operator') FROM c, f;
SELECT is(tap.state(c.c1), s4.st, 'inactive: nothing written') FROM c, s4;
SELECT is(tap.upd(c.c1, NULL, true, f.fullop), 'at_limit', 'reassign: operator at its limit') FROM c, f;
SELECT is(tap.state(c.c1), s4.st, 'at limit: nothing written') FROM c, s4;
UPDATE operators SET max_load_limit = 2 FROM f WHERE id = f.fullop;
SELECT is(tap.upd(c.c1, NULL, true, f.fullop), 'ok', 'reassign to an operator at limit-1: ok') FROM c, f;
SELECT is(tap.loads(ARRAY[f.b, f.fullop]), '{1,2}'::integer[], 'reassign at limit-1: loads') FROM f;
-- the order of the checks: an inactive operator that is also full and unconfigured
UPDATE operators SET is_active = false, max_load_limit = 0 FROM f WHERE id = f.stranger;
SELECT is(tap.upd(c.c1, NULL, true, f.stranger), 'not_configured', 'checks: not configured comes before inactive and full') FROM c, f;
SELECT tap.configure(f.s, f.stranger) FROM f;
SELECT is(tap.upd(c.c1, NULL, true, f.stranger), 'inactive', 'checks: inactive comes before full') FROM c, f;

-- a closed contact hand-picked: the same checks, no slot taken
CREATE TEMP TABLE cl AS SELECT tap.contact(f.s, f.a, 'closed') AS c FROM f;
SELECT is(tap.upd(cl.c, NULL, true, f.b), 'ok', 'closed contact to an eligible operator: ok') FROM cl, f;
SELECT is(tap.operator_of(cl.c), f.b, 'closed contact: operator changed') FROM cl, f;
SELECT is(tap.status_of(cl.c), 'closed', 'closed contact: still closed') FROM cl;
SELECT is(tap.loads(ARRAY[f.a, f.b]), '{0,1}'::integer[], 'closed contact: no load moves') FROM f;
SELECT is((SELECT reason FROM tap.last_assignment(cl.c)), 'manual', 'closed contact: manual history row') FROM cl;
SELECT is(tap.upd(cl.c, NULL, true, f.fullop), 'at_limit', 'closed contact to a full operator: at_limit') FROM cl, f;
SELECT is(tap.upd(cl.c, NULL, true, f.off), 'inactive', 'closed contact to an inactive operator: inactive') FROM cl, f;
SELECT is(tap.upd(cl.c, NULL, true, f.stranger), 'inactive', 'closed contact to an unconfigured... (now configured, inactive)') FROM cl, f;

-- status and operator together
SELECT is(tap.upd(cl.c, 'active', true, f.a), 'ok', 'reopen and reassign: ok') FROM cl, f;
SELECT is(tap.loads(ARRAY[f.a, f.b]), '{1,1}'::integer[], 'reopen and reassign: the new operator counts it, the old one not') FROM f;
SELECT is(tap.upd(cl.c, 'closed', true, f.b), 'ok', 'close and reassign: ok') FROM cl, f;
SELECT is(tap.loads(ARRAY[f.a, f.b]), '{0,1}'::integer[], 'close and reassign: the old operator freed, the new one not charged') FROM f;
SELECT is(tap.upd(cl.c, 'active', true, f.fullop), 'at_limit', 'reopen onto a full operator: at_limit') FROM cl, f;
SELECT is(tap.status_of(cl.c), 'closed', 'reopen onto a full operator: still closed') FROM cl;

-- unassign ------------------------------------------------------------------------------------
-- with batch 0 the queue is not drained: the contact stays waiting
CREATE TEMP TABLE u AS SELECT tap.contact(f.s, f.a) AS c FROM f;
SELECT is(tap.upd(u.c, NULL, true, NULL, 0), 'ok', 'unassign: ok') FROM u;
SELECT is(tap.operator_of(u.c), NULL, 'unassign: no operator') FROM u;
SELECT is(tap.status_of(u.c), 'active', 'unassign: still active (waiting)') FROM u;
SELECT is(tap.load(f.a), 0, 'unassign: frees the load') FROM f;
SELECT is((SELECT row(reason, operator_id, load_before, load_limit, note)::text FROM tap.last_assignment(u.c)),
          row('unassigned', NULL::bigint, NULL::int, NULL::int, NULL::text)::text, 'unassign history: reason unassigned, no operator') FROM u;
SELECT is(tap.upd(u.c, NULL, true, NULL, 0), 'ok', 'unassign an unassigned contact: ok') FROM u;
SELECT is(tap.history_count(u.c), 1::bigint, 'unassign an unassigned contact: no history row') FROM u;

-- assign a waiting contact by hand
SELECT is(tap.upd(u.c, NULL, true, f.a, 0), 'ok', 'hand-pick for a waiting contact: ok') FROM u, f;
SELECT is(tap.load(f.a), 1, 'hand-pick for a waiting contact: counts') FROM f;

-- a closed unassigned contact reopened joins the queue and the queue is drained at once
CREATE TEMP TABLE ru AS SELECT tap.contact(f.s, NULL, 'closed') AS c FROM f;
UPDATE operators SET is_active = false FROM f WHERE id IN (f.b, f.fullop, f.stranger);
SELECT is(tap.upd(ru.c, 'active', false, NULL), 'ok', 'reopen an unassigned contact: ok') FROM ru;
SELECT is(tap.operator_of(ru.c), f.a, 'reopen an unassigned contact: assigned from the queue (a is the only eligible)') FROM ru, f;
SELECT is((SELECT reason FROM tap.last_assignment(ru.c)), 'backlog', 'reopen an unassigned contact: backlog history row') FROM ru;

-- capacity that appears drains the freed operator's sources --------------------------------------
-- x is full (1 of 1) and serves sources s1 and s2; s2 has a contact waiting
CREATE TEMP TABLE d AS SELECT tap.source() AS s1, tap.source() AS s2, tap.operator(true, 1) AS x;
SELECT tap.configure(s1, x), tap.configure(s2, x) FROM d;
ALTER TABLE d ADD COLUMN held bigint, ADD COLUMN w bigint[];
UPDATE d SET held = tap.contact(s1, x), w = tap.waiting(s2, 2);
SELECT is(tap.upd(d.held, 'closed', false, NULL), 'ok', 'close a full operator''s contact: ok') FROM d;
SELECT is(tap.operator_of(d.w[1]), d.x, 'close: the freed slot goes to the oldest contact waiting in another of its sources') FROM d;
SELECT is(tap.operator_of(d.w[2]), NULL, 'close: one slot freed, one contact assigned') FROM d;
SELECT is(tap.load(d.x), 1, 'close: the operator full again') FROM d;
-- unassigning with a batch: the contact rejoins the queue behind the older one
SELECT is(tap.upd(d.w[1], NULL, true, NULL), 'ok', 'unassign with a batch: ok') FROM d;
SELECT is(ARRAY[tap.operator_of(d.w[1]), tap.operator_of(d.w[2])], ARRAY[d.x, NULL],
          'unassign with a batch: drained at once, the oldest waiting one (itself) first') FROM d;

-- the batch bound is passed to the drain
CREATE TEMP TABLE b AS SELECT tap.source() AS s, tap.operator(true, 1) AS y;
SELECT tap.configure(s, y) FROM b;
ALTER TABLE b ADD COLUMN held bigint, ADD COLUMN w bigint[];
UPDATE b SET held = tap.contact(s, y), w = tap.waiting(s, 3);
UPDATE operators SET max_load_limit = 10 FROM b WHERE id = b.y;
SELECT is(tap.upd(b.held, 'closed', false, NULL, 2), 'ok', 'close with batch 2: ok') FROM b;
SELECT is((SELECT count(*) FROM unnest(b.w) x WHERE tap.operator_of(x) IS NOT NULL), 2::bigint,
          'close with batch 2: two waiting contacts assigned, not three') FROM b;

SELECT ok(tap.counts_exact(), 'every operator''s active_contacts equals its active contacts');
SELECT * FROM finish();
ROLLBACK;
