-- 06_operator_update.sql -- crm_operator_update: the PATCH of an operator and the drain it starts
BEGIN;
SELECT plan(29);

CREATE TEMP TABLE f AS SELECT tap.source() AS s1, tap.source() AS s2, tap.operator(false, 1) AS a;
SELECT tap.configure(s1, a), tap.configure(s2, a) FROM f;
ALTER TABLE f ADD COLUMN w1 bigint[], ADD COLUMN w2 bigint[];
UPDATE f SET w1 = tap.waiting(s1, 2), w2 = tap.waiting(s2, 2);

-- unknown operator: no row, nothing changed
SELECT is((SELECT count(*) FROM crm_operator_update(-1, 'x', true, 5, 32)), 0::bigint, 'update: unknown operator -> no row');

-- NULL arguments leave a column unchanged
CREATE TEMP TABLE r0 AS SELECT r.* FROM f, LATERAL crm_operator_update(f.a, 'renamed', NULL, NULL, 32) r;
SELECT is(r0.name, 'renamed', 'update: name changed') FROM r0;
SELECT is(row(r0.is_active, r0.max_load_limit)::text, row(false, 1)::text, 'update: NULL is_active and limit unchanged') FROM r0;
SELECT is(row(o.name, o.is_active, o.max_load_limit)::text, row('renamed', false, 1)::text, 'update: stored') FROM operators o, f WHERE o.id = f.a;
SELECT is((SELECT count(*) FROM unnest(f.w1 || f.w2) x WHERE tap.operator_of(x) IS NOT NULL), 0::bigint,
          'update: an inactive operator drains nothing') FROM f;

-- activated: its sources are drained up to its capacity, in source order, oldest first
CREATE TEMP TABLE r1 AS SELECT r.* FROM f, LATERAL crm_operator_update(f.a, NULL, true, NULL, 32) r;
SELECT is(r1.is_active, true, 'activate: active') FROM r1;
SELECT is(tap.operator_of(f.w1[1]), f.a, 'activate: the oldest waiting contact of its first source assigned') FROM f;
SELECT is((SELECT count(*) FROM unnest(f.w1 || f.w2) x WHERE tap.operator_of(x) IS NOT NULL), 1::bigint,
          'activate: limit 1 -> one contact') FROM f;
SELECT is(r1.active_contacts, 1, 'activate: the row returned has the load after the drain') FROM r1;
SELECT is((SELECT reason FROM tap.last_assignment(f.w1[1])), 'backlog', 'activate: backlog history row') FROM f;

-- at its limit: a PATCH drains nothing
CREATE TEMP TABLE r2 AS SELECT r.* FROM f, LATERAL crm_operator_update(f.a, 'again', NULL, NULL, 32) r;
SELECT is(tap.load(f.a), 1, 'full: nothing more assigned') FROM f;

-- the limit raised: drained again, bounded by the batch
CREATE TEMP TABLE r3 AS SELECT r.* FROM f, LATERAL crm_operator_update(f.a, NULL, NULL, 10, 2) r;
SELECT is(r3.max_load_limit, 10, 'raise the limit: stored') FROM r3;
SELECT is(r3.active_contacts, 3, 'raise the limit with batch 2: two more assigned') FROM r3;
SELECT is(ARRAY[tap.operator_of(f.w1[2]), tap.operator_of(f.w2[1]), tap.operator_of(f.w2[2])], ARRAY[f.a, f.a, NULL],
          'raise the limit: first source''s queue, then the second''s oldest; the batch stops there') FROM f;
CREATE TEMP TABLE r4 AS SELECT r.* FROM f, LATERAL crm_operator_update(f.a, NULL, NULL, NULL, 32) r;
SELECT is(r4.active_contacts, 4, 'no change asked, room left: the rest of the queue drained') FROM r4;

-- the limit lowered below the load: allowed, nothing unassigned, nothing drained
SELECT tap.waiting(f.s1, 1) FROM f;
CREATE TEMP TABLE r5 AS SELECT r.* FROM f, LATERAL crm_operator_update(f.a, NULL, NULL, 2, 32) r;
SELECT is(row(r5.max_load_limit, r5.active_contacts)::text, row(2, 4)::text, 'lower the limit under the load: kept as is') FROM r5;
SELECT is((SELECT count(*) FROM contacts c, f WHERE c.source_id IN (f.s1, f.s2) AND c.operator_id IS NULL), 1::bigint,
          'lower the limit: the waiting one still waits') FROM f;
SELECT is((SELECT count(*) FROM operators o, f WHERE o.id = f.a AND o.max_load_limit = 2), 1::bigint, 'lower the limit: stored');

-- deactivated: nothing drained even with room
CREATE TEMP TABLE r6 AS SELECT r.* FROM f, LATERAL crm_operator_update(f.a, NULL, false, 100, 32) r;
SELECT is(row(r6.is_active, r6.max_load_limit, r6.active_contacts)::text, row(false, 100, 4)::text,
          'deactivate with room: stored, load kept') FROM r6;
SELECT is((SELECT count(*) FROM contacts c, f WHERE c.source_id = f.s1 AND c.operator_id IS NULL), 1::bigint,
          'deactivate: nothing drained') FROM f;

-- the drain serves the operator's sources only, and other operators of those sources too
CREATE TEMP TABLE g AS SELECT tap.source() AS mine, tap.source() AS theirs, tap.operator(false, 5) AS x,
                              tap.operator(true, 0) AS y, tap.operator(true, 5) AS z;
SELECT tap.configure(mine, x), tap.configure(mine, y), tap.configure(theirs, z) FROM g;
ALTER TABLE g ADD COLUMN wm bigint[], ADD COLUMN wt bigint[];
UPDATE g SET wm = tap.waiting(mine, 2), wt = tap.waiting(theirs, 1);
SELECT is((SELECT count(*) FROM crm_operator_update(g.x, NULL, true, NULL, 32)), 1::bigint, 'activate x: one row') FROM g;
SELECT is(ARRAY[tap.operator_of(g.wm[1]), tap.operator_of(g.wm[2])], ARRAY[g.x, g.x], 'activate x: its source drained') FROM g;
SELECT is(tap.operator_of(g.wt[1]), NULL, 'activate x: another source (with an eligible operator) untouched') FROM g;
-- y's limit raised: its source is drained, possibly to x too (the weighted rule)
UPDATE g SET wm = wm || tap.waiting(mine, 1);
SELECT is((SELECT active_contacts FROM crm_operator_update(g.y, NULL, NULL, 1, 32)) + tap.load(g.x), 3,
          'raise y''s limit: the waiting contact of its source assigned (to x or y)') FROM g;
SELECT is(tap.operator_of(g.wm[3]) IS NOT NULL, true, 'raise y''s limit: the third waiting contact assigned') FROM g;

-- a PATCH that brings no capacity (an inactive or full operator) drains nothing, even where
-- another operator of the source could take the waiting contacts (the drainer's business)
CREATE TEMP TABLE n AS SELECT tap.source() AS s, tap.operator(false, 5) AS off, tap.operator(true, 1) AS fullop,
                              tap.operator(true, 5) AS free;
SELECT tap.configure(s, off), tap.configure(s, fullop), tap.configure(s, free), tap.fill(s, fullop, 1) FROM n;
ALTER TABLE n ADD COLUMN w bigint[];
UPDATE n SET w = tap.waiting(s, 1);
SELECT is((SELECT name FROM crm_operator_update(n.off, 'off renamed', NULL, NULL, 32)), 'off renamed', 'rename inactive: ok') FROM n;
SELECT is((SELECT name FROM crm_operator_update(n.fullop, 'full renamed', NULL, NULL, 32)), 'full renamed', 'rename full: ok') FROM n;
SELECT is(tap.operator_of(n.w[1]), NULL, 'rename of an inactive or full operator: no drain') FROM n;

SELECT ok(tap.counts_exact(), 'every operator''s active_contacts equals its active contacts');
SELECT * FROM finish();
ROLLBACK;
