-- 18_sticky.sql -- sticky returning leads (0014, 28_sticky.sql: crm_sticky_earlier, 30_intake.sql): the window's
-- constraint; a returning lead back to its operator within the window, from any source, with
-- reason 'sticky' naming the earlier contact; the usual rule when the window passed, the earlier
-- contact is unassigned or not the most recent, or its operator is not configured here,
-- inactive, off shift or at its limit; "assigned" read from the latest assignments row
BEGIN;
SELECT plan(42);

-- a contact of p_email by crm_intake; its id
CREATE FUNCTION pg_temp.intake(p_email text, p_source bigint) RETURNS bigint
LANGUAGE sql AS $$ SELECT i.id FROM crm_intake(p_email, p_source) i $$;
-- the newest history entry of a contact, as (reason, operator, sticky_contact_id)
CREATE FUNCTION pg_temp.entry(p_contact bigint) RETURNS text
LANGUAGE sql AS $$
    SELECT row(h.reason, h.operator_id, h.sticky_contact_id)::text FROM assignment_history h
     WHERE h.contact_id = p_contact ORDER BY h.id DESC LIMIT 1
$$;

-- s: sticky, operators a and b; t: a and b, not sticky; u: only c; w: nobody
CREATE TEMP TABLE f AS SELECT tap.source() AS s, tap.source() AS t, tap.source() AS u, tap.source() AS w,
                              tap.operator(true, 20) AS a, tap.operator(true, 20) AS b, tap.operator(true, 20) AS c;
SELECT tap.configure(f.s, f.a, 1), tap.configure(f.s, f.b, 1), tap.configure(f.t, f.a, 1), tap.configure(f.t, f.b, 1),
       tap.configure(f.u, f.c, 1) FROM f;
-- the other operator of the pair (a, b)
CREATE FUNCTION pg_temp.other(p_op bigint) RETURNS bigint
LANGUAGE sql AS $$ SELECT CASE WHEN p_op = f.a THEN f.b ELSE f.a END FROM f $$;

-- the field ---------------------------------------------------------------------------------------
SELECT is((SELECT sticky_window_seconds FROM sources WHERE id = (SELECT s FROM f)), NULL, 'window: off by default');
SELECT throws_ok($$UPDATE sources SET sticky_window_seconds = 0 WHERE id = (SELECT s FROM f)$$, '23514',
                 'new row for relation "sources" violates check constraint "sources_sticky_window"',
                 'window: 0 -> the named check constraint');
SELECT throws_ok($$UPDATE sources SET sticky_window_seconds = 31536001 WHERE id = (SELECT s FROM f)$$, '23514',
                 'new row for relation "sources" violates check constraint "sources_sticky_window"',
                 'window: above a year -> the named check constraint');
SELECT lives_ok($$UPDATE sources SET sticky_window_seconds = 31536000 WHERE id = (SELECT s FROM f)$$,
                'window: a year is allowed');

-- no window: the usual rule, reason intake
UPDATE sources SET sticky_window_seconds = NULL FROM f WHERE id = f.s;
CREATE TEMP TABLE n AS SELECT pg_temp.intake('st0@tap.test', f.s) AS c1 FROM f;
ALTER TABLE n ADD COLUMN c2 bigint;
UPDATE n SET c2 = pg_temp.intake('st0@tap.test', f.s) FROM f;
SELECT is((SELECT row(h.reason, h.sticky_contact_id)::text FROM n, assignment_history h WHERE h.contact_id = n.c2),
          '(intake,)', 'no window: a returning lead is an intake like any other');
SELECT is((SELECT intake_sticky_of FROM contacts WHERE id = (SELECT c2 FROM n)), NULL, 'no window: no earlier contact kept');

UPDATE sources SET sticky_window_seconds = 3600 FROM f WHERE id = f.s;

-- a hit --------------------------------------------------------------------------------------------
CREATE TEMP TABLE h AS SELECT pg_temp.intake('st1@tap.test', f.s) AS c1 FROM f;
SELECT is(pg_temp.entry(c1), row('intake', tap.operator_of(c1), NULL::bigint)::text,
          'new lead on a sticky source: the usual rule') FROM h;
CREATE TEMP TABLE hl AS SELECT tap.load(tap.operator_of(h.c1)) AS before FROM h;
SELECT is((SELECT row(i.operator_id, i.sticky)::text FROM h, crm_intake('st1@tap.test', (SELECT s FROM f)) i),
          row(tap.operator_of(h.c1), true)::text, 'hit: the same operator, the result says sticky') FROM h;
CREATE TEMP TABLE h2 AS SELECT max(id) AS c2 FROM contacts
 WHERE lead_id = (SELECT id FROM leads WHERE email = 'st1@tap.test');
SELECT is(pg_temp.entry(h2.c2), row('sticky', tap.operator_of(h.c1), h.c1)::text,
          'hit: history reason sticky, naming the earlier contact') FROM h, h2;
SELECT is((SELECT row(c.intake_operator_id, c.intake_load, c.intake_limit, c.intake_note)::text FROM contacts c, h2
            WHERE c.id = h2.c2), (SELECT row(tap.operator_of(h.c1), hl.before, 20, NULL::text)::text FROM h, hl),
          'hit: the decision keeps the operator, its load before and its limit (for replays too)');
SELECT is(tap.load(tap.operator_of(h.c1)), hl.before + 1, 'hit: one slot taken') FROM h, hl;
SELECT is((SELECT row(x.reason, x.sticky_contact_id, x.operator_id)::text FROM h2, crm_history(h2.c2) x),
          (SELECT row('sticky', h.c1, tap.operator_of(h.c1))::text FROM h), 'hit: crm_history shows it (the API''s rows)');
SELECT is((SELECT count(*) FROM h2, crm_history(h2.c2) x, jsonb_array_elements(x.candidates::jsonb) e
            WHERE (e ->> 'eligible')::boolean), 2::bigint, 'hit: both operators shown eligible (neither full)');
-- the chain: a third contact follows the second, the most recent
CREATE TEMP TABLE h3 AS SELECT pg_temp.intake('st1@tap.test', f.s) AS c3 FROM f;
SELECT is(pg_temp.entry(h3.c3), row('sticky', tap.operator_of(h.c1), h2.c2)::text,
          'chain: a third contact follows the second (the most recent)') FROM h, h2, h3;
SELECT throws_ok($$UPDATE contacts SET intake_sticky_of = NULL WHERE id = (SELECT c2 FROM h2)$$, 'P0001',
                 'assignments are append-only', 'the decision is append-only');

-- another source's contact counts ------------------------------------------------------------------
CREATE TEMP TABLE x AS SELECT pg_temp.intake('st2@tap.test', f.t) AS c1 FROM f;
SELECT is(pg_temp.entry(x.c1), row('intake', tap.operator_of(x.c1), NULL::bigint)::text,
          'source t has no window: the usual rule') FROM x;
CREATE TEMP TABLE x2 AS SELECT pg_temp.intake('st2@tap.test', f.s) AS c2 FROM f;
SELECT is(pg_temp.entry(x2.c2), row('sticky', tap.operator_of(x.c1), x.c1)::text,
          'from another source: back to its operator, naming that contact') FROM x, x2;

-- not configured here ------------------------------------------------------------------------------
CREATE TEMP TABLE nc AS SELECT pg_temp.intake('st3@tap.test', f.u) AS c1 FROM f;
SELECT is(tap.operator_of(nc.c1), f.c, 'source u: operator c') FROM f, nc;
CREATE TEMP TABLE nc2 AS SELECT pg_temp.intake('st3@tap.test', f.s) AS c2 FROM f;
SELECT is((SELECT row(h.reason, h.sticky_contact_id, h.operator_id IN (f.a, f.b))::text
             FROM f, nc2, assignment_history h WHERE h.contact_id = nc2.c2), '(intake,,t)',
          'earlier operator not configured for this source: the usual rule');

-- the most recent contact decides ------------------------------------------------------------------
CREATE TEMP TABLE mr AS SELECT pg_temp.intake('st4@tap.test', f.s) AS c1 FROM f;
CREATE TEMP TABLE mr2 AS SELECT pg_temp.intake('st4@tap.test', f.u) AS c2 FROM f;
CREATE TEMP TABLE mr3 AS SELECT pg_temp.intake('st4@tap.test', f.s) AS c3 FROM f;
SELECT is((SELECT row(h.reason, h.sticky_contact_id)::text FROM mr3, assignment_history h WHERE h.contact_id = mr3.c3),
          '(intake,)', 'only the most recent contact counts (its operator c is not configured here)');

-- unassigned earlier contact ---------------------------------------------------------------------
CREATE TEMP TABLE ua AS SELECT pg_temp.intake('st5@tap.test', f.w) AS c1 FROM f;
SELECT is(tap.operator_of(ua.c1), NULL, 'source w: the contact waits') FROM ua;
CREATE TEMP TABLE ua2 AS SELECT pg_temp.intake('st5@tap.test', f.s) AS c2 FROM f;
SELECT is((SELECT row(h.reason, h.sticky_contact_id, h.operator_id IS NOT NULL)::text
             FROM ua2, assignment_history h WHERE h.contact_id = ua2.c2), '(intake,,t)',
          'earlier contact unassigned: the usual rule');

-- a closed earlier contact still counts ----------------------------------------------------------
CREATE TEMP TABLE cl AS SELECT pg_temp.intake('st6@tap.test', f.s) AS c1 FROM f;
SELECT is((SELECT o_error::text FROM cl, crm_contact_update(cl.c1, 'closed', false, NULL, 8)), NULL, 'close it');
CREATE TEMP TABLE cl2 AS SELECT pg_temp.intake('st6@tap.test', f.s) AS c2 FROM f;
SELECT is(pg_temp.entry(cl2.c2), row('sticky', tap.operator_of(cl.c1), cl.c1)::text,
          'a closed earlier contact keeps its operator: sticky') FROM cl, cl2;

-- the window ----------------------------------------------------------------------------------------
CREATE TEMP TABLE wp AS SELECT pg_temp.intake('st7@tap.test', f.s) AS c1 FROM f;
UPDATE contacts SET created_at = now() - interval '3601 seconds' FROM wp WHERE id = wp.c1;
SELECT is((SELECT count(*) FROM wp, crm_sticky_earlier((SELECT lead_id FROM contacts WHERE id = wp.c1), 3600) c),
          0::bigint, 'window passed by a second: the earlier contact does not count');
SELECT is(tap.counts_exact(), true, 'window passed: no slot taken by the refusal');
CREATE TEMP TABLE wp2 AS SELECT pg_temp.intake('st7@tap.test', f.s) AS c2 FROM f;
SELECT is((SELECT row(h.reason, h.sticky_contact_id)::text FROM wp2, assignment_history h WHERE h.contact_id = wp2.c2),
          '(intake,)', 'window passed: the usual rule');
CREATE TEMP TABLE wi AS SELECT pg_temp.intake('st8@tap.test', f.s) AS c1 FROM f;
UPDATE contacts SET created_at = now() - interval '3599 seconds' FROM wi WHERE id = wi.c1;
SELECT is((SELECT row(c.id, c.operator_id)::text FROM wi, crm_sticky_earlier((SELECT lead_id FROM contacts WHERE id = wi.c1), 3600) c),
          row(wi.c1, tap.operator_of(wi.c1))::text, 'window: a second before its end, the earlier contact and its operator') FROM wi;
CREATE TEMP TABLE wi2 AS SELECT pg_temp.intake('st8@tap.test', f.s) AS c2 FROM f;
SELECT is(pg_temp.entry(wi2.c2), row('sticky', tap.operator_of(wi.c1), wi.c1)::text,
          'window: a second before its end, sticky') FROM wi, wi2;

-- "assigned": the latest assignments row naming the operator -----------------------------------
CREATE TEMP TABLE ra AS SELECT pg_temp.intake('st9@tap.test', f.s) AS c1 FROM f;
UPDATE contacts SET created_at = now() - interval '2 hours' FROM ra WHERE id = ra.c1;
SELECT is((SELECT o_error::text FROM ra, crm_contact_update(ra.c1, NULL, true, pg_temp.other(tap.operator_of(ra.c1)), 8)),
          NULL, 'reassigned by hand now (its intake two hours ago)');
CREATE TEMP TABLE ra2 AS SELECT pg_temp.intake('st9@tap.test', f.s) AS c2 FROM f;
SELECT is(pg_temp.entry(ra2.c2), row('sticky', tap.operator_of(ra.c1), ra.c1)::text,
          'assigned by hand within the window: sticky to that operator') FROM ra, ra2;
-- an intake two hours ago and no later entry: outside the window
CREATE TEMP TABLE rb AS SELECT pg_temp.intake('st10@tap.test', f.s) AS c1 FROM f;
UPDATE contacts SET created_at = now() - interval '2 hours' FROM rb WHERE id = rb.c1;
SELECT is((SELECT count(*) FROM rb, crm_sticky_earlier((SELECT lead_id FROM contacts WHERE id = rb.c1), 3600) c),
          0::bigint, 'intake two hours ago, no later entry: outside the window');

-- operator not eligible now: inactive, off shift, at its limit -------------------------------------
CREATE TEMP TABLE ia AS SELECT pg_temp.intake('st11@tap.test', f.s) AS c1 FROM f;
UPDATE operators SET is_active = false FROM ia WHERE id = tap.operator_of(ia.c1);
CREATE TEMP TABLE ia2 AS SELECT pg_temp.intake('st11@tap.test', f.s) AS c2 FROM f;
SELECT is(pg_temp.entry(ia2.c2), row('intake', pg_temp.other(tap.operator_of(ia.c1)), NULL::bigint)::text,
          'earlier operator inactive: the usual rule, the other operator') FROM ia, ia2;
UPDATE operators SET is_active = true FROM ia WHERE id = tap.operator_of(ia.c1);

CREATE TEMP TABLE os AS SELECT pg_temp.intake('st12@tap.test', f.s) AS c1 FROM f;
UPDATE operators SET schedule = jsonb_build_object('timezone', 'UTC', 'days_off', '[]'::jsonb,
           'weekly', jsonb_build_array(jsonb_build_object(
               'day', to_char(now() AT TIME ZONE 'UTC' + interval '2 days', 'dy'), 'from', '00:00', 'to', '01:00')))
  FROM os WHERE id = tap.operator_of(os.c1);
SELECT is((SELECT on_shift FROM operators WHERE id = (SELECT tap.operator_of(c1) FROM os)), false, 'now off shift');
CREATE TEMP TABLE os2 AS SELECT pg_temp.intake('st12@tap.test', f.s) AS c2 FROM f;
SELECT is(pg_temp.entry(os2.c2), row('intake', pg_temp.other(tap.operator_of(os.c1)), NULL::bigint)::text,
          'earlier operator off shift: the usual rule, the other operator') FROM os, os2;
UPDATE operators SET schedule = NULL FROM os WHERE id = tap.operator_of(os.c1);

CREATE TEMP TABLE al AS SELECT pg_temp.intake('st13@tap.test', f.s) AS c1 FROM f;
SELECT tap.fill((SELECT t FROM f), tap.operator_of(al.c1), 20 - tap.load(tap.operator_of(al.c1))) FROM al;
SELECT is(tap.load(tap.operator_of(al.c1)), 20, 'earlier operator filled to its limit') FROM al;
CREATE TEMP TABLE al2 AS SELECT pg_temp.intake('st13@tap.test', f.s) AS c2 FROM f;
SELECT is(pg_temp.entry(al2.c2), row('intake', pg_temp.other(tap.operator_of(al.c1)), NULL::bigint)::text,
          'earlier operator at its limit: the usual rule, the other operator') FROM al, al2;
SELECT is(tap.load(tap.operator_of(al.c1)), 20, 'at its limit: not past it') FROM al;

-- the idempotent intake calls crm_intake unchanged: sticky there too, its replay body the same ----
CREATE TEMP TABLE ik AS SELECT pg_temp.intake('st14@tap.test', f.s) AS c1 FROM f;
CREATE TEMP TABLE ik2 AS SELECT * FROM crm_idem_intake('tap', 'k-sticky', 'req', 3600, 'st14@tap.test', (SELECT s FROM f));
SELECT is((SELECT (o_body::jsonb ->> 'operator_id')::bigint FROM ik2), (SELECT tap.operator_of(c1) FROM ik),
          'idempotent intake: the same operator');
SELECT is((SELECT row(h.reason, h.sticky_contact_id)::text FROM ik, ik2, assignment_history h
            WHERE h.contact_id = (ik2.o_body::jsonb ->> 'id')::bigint), (SELECT row('sticky', c1)::text FROM ik),
          'idempotent intake: reason sticky');
SELECT is((SELECT o_body FROM crm_idem_intake('tap', 'k-sticky', 'req', 3600, 'st14@tap.test', (SELECT s FROM f))),
          (SELECT o_body FROM ik2), 'idempotent intake: the replay gives the same body');

SELECT is(tap.counts_exact(), true, 'counters equal a recount');
SELECT * FROM finish();
ROLLBACK;
