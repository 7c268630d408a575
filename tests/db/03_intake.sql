-- 03_intake.sql -- crm_intake(email, source): the lead, the weighted draw, the slot, the history
BEGIN;
SELECT plan(38);

CREATE TEMP TABLE f AS
SELECT tap.source() AS s, tap.operator(true, 2) AS a, tap.operator(false, 9) AS off;
SELECT tap.configure(s, a, 5), tap.configure(s, off, 100) FROM f;

-- somebody eligible ---------------------------------------------------------------------------
CREATE TEMP TABLE i1 AS SELECT i.* FROM f, LATERAL crm_intake('ann@tap.test', f.s) i;
SELECT is((SELECT count(*) FROM i1), 1::bigint, 'intake: one row');
SELECT is(i1.operator_id, f.a, 'intake: the eligible operator is chosen (never the inactive one)') FROM i1, f;
SELECT is(i1.source_id, f.s, 'intake: the contact is of the source') FROM i1, f;
SELECT is(i1.status, 'active', 'intake: the contact is active') FROM i1;
SELECT is(i1.lead_id, (SELECT id FROM leads WHERE email = 'ann@tap.test'), 'intake: a lead was created for the email') FROM i1;
SELECT is((SELECT row(c.lead_id, c.source_id, c.operator_id, c.status)::text FROM contacts c WHERE c.id = i1.id),
          row(i1.lead_id, i1.source_id, i1.operator_id, i1.status)::text, 'intake: the row returned is the row stored') FROM i1;
SELECT matches(i1.created_at, '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$', 'intake: created_at in RFC 3339, UTC, microseconds') FROM i1;
SELECT is(i1.created_at, to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
          'intake: created_at is the stored timestamp') FROM i1 JOIN contacts c ON c.id = i1.id;
SELECT is(tap.loads(ARRAY[f.a, f.off]), '{1,0}'::integer[], 'intake: one slot of the chosen operator') FROM f;

-- its history row
CREATE TEMP TABLE h1 AS SELECT a.* FROM i1, LATERAL tap.last_assignment(i1.id) a;
SELECT is(tap.history_count(i1.id), 1::bigint, 'intake history: one row') FROM i1;
SELECT is(h1.reason, 'intake', 'intake history: reason intake') FROM h1;
SELECT is(h1.operator_id, f.a, 'intake history: the chosen operator') FROM h1, f;
SELECT is(h1.load_before, 0, 'intake history: load before the take') FROM h1;
SELECT is(h1.load_limit, 2, 'intake history: the limit') FROM h1;
SELECT is(h1.note, NULL, 'intake history: no note when somebody was chosen') FROM h1;
SELECT is(tap.last_candidates(i1.id),
          jsonb_build_array(
              jsonb_build_object('operator_id', f.a, 'weight', 5, 'max_load_limit', 2, 'is_active', true, 'eligible', true),
              jsonb_build_object('operator_id', f.off, 'weight', 100, 'max_load_limit', 9, 'is_active', false, 'eligible', false)),
          'intake history: the candidates as read before the take') FROM i1, f;

-- the same email: the same lead, a new contact
CREATE TEMP TABLE i2 AS SELECT i.* FROM f, LATERAL crm_intake('ann@tap.test', f.s) i;
SELECT is(i2.lead_id, i1.lead_id, 'intake: the same email is the same lead') FROM i1, i2;
SELECT isnt(i2.id, i1.id, 'intake: ... with a new contact') FROM i1, i2;
SELECT is((SELECT count(*) FROM leads WHERE email = 'ann@tap.test'), 1::bigint, 'intake: one lead for the email');
SELECT is((SELECT load_before FROM tap.last_assignment(i2.id)), 1, 'intake history: load before is 1 now (limit-1)') FROM i2;
SELECT is(i2.operator_id, f.a, 'intake: limit-1 -> still assigned') FROM i2, f;

-- nobody eligible: all at limit ---------------------------------------------------------------
CREATE TEMP TABLE i3 AS SELECT i.* FROM f, LATERAL crm_intake('bob@tap.test', f.s) i;
SELECT is(i3.operator_id, NULL, 'intake: at the limit -> stored unassigned') FROM i3;
SELECT is(i3.status, 'active', 'intake: ... active, waiting') FROM i3;
SELECT is(tap.load(f.a), 2, 'intake: the full operator''s load unchanged') FROM f;
SELECT is((SELECT row(reason, operator_id, load_before, load_limit, note)::text FROM tap.last_assignment(i3.id)),
          row('intake', NULL::bigint, NULL::int, NULL::int, 'all at limit')::text,
          'intake history: nobody chosen, note "all at limit"') FROM i3;

-- all inactive
UPDATE operators SET is_active = false FROM f WHERE id = f.a;
CREATE TEMP TABLE i4 AS SELECT i.* FROM f, LATERAL crm_intake('cid@tap.test', f.s) i;
SELECT is(i4.operator_id, NULL, 'intake: all inactive -> unassigned') FROM i4;
SELECT is((SELECT note FROM tap.last_assignment(i4.id)), 'all inactive', 'intake history: note "all inactive"') FROM i4;
SELECT is(jsonb_array_length(tap.last_candidates(i4.id)), 2,
          'intake history: the inactive candidates recorded') FROM i4;

-- no operators configured
CREATE TEMP TABLE e AS SELECT tap.source() AS s;
CREATE TEMP TABLE i5 AS SELECT i.* FROM e, LATERAL crm_intake('dan@tap.test', e.s) i;
SELECT is(i5.operator_id, NULL, 'intake: no operators configured -> unassigned') FROM i5;
SELECT is((SELECT row(note, tap.last_candidates(i5.id))::text FROM tap.last_assignment(i5.id)),
          row('no operators configured', '[]'::jsonb)::text, 'intake history: note "no operators configured", candidates []') FROM i5;

-- an unknown source: no row, nothing stored (the service answers 404)
SELECT is((SELECT count(*) FROM crm_intake('eve@tap.test', -1)), 0::bigint, 'intake: unknown source -> no row');
SELECT is((SELECT count(*) FROM leads WHERE email = 'eve@tap.test'), 0::bigint, 'intake: unknown source -> no lead stored');

-- the weighted draw ----------------------------------------------------------------------------
-- weights 3 and 1, limits high enough: about three contacts in four go to the heavy one; an
-- inactive operator and a full one (with huge weights) get none
CREATE TEMP TABLE g AS
SELECT tap.source() AS s, tap.operator(true, 1000) AS heavy, tap.operator(true, 1000) AS light,
       tap.operator(false, 1000) AS off, tap.operator(true, 1) AS fullop;
SELECT tap.configure(s, heavy, 3), tap.configure(s, light, 1), tap.configure(s, off, 1000),
       tap.configure(s, fullop, 1000) FROM g;
SELECT tap.fill(s, fullop, 1) FROM g;
SELECT setseed(0.5);
CREATE TEMP TABLE drawn AS
SELECT i.operator_id FROM g, generate_series(1, 400) n, LATERAL crm_intake('w' || n || '@tap.test', g.s) i;
SELECT is((SELECT count(*) FROM drawn WHERE operator_id IS NULL), 0::bigint, 'draw: every contact assigned');
SELECT is((SELECT count(*) FROM drawn, g WHERE operator_id IN (g.off, g.fullop)), 0::bigint,
          'draw: never the inactive or the full operator, whatever their weight');
SELECT ok((SELECT count(*) FROM drawn, g WHERE operator_id = g.heavy) BETWEEN 270 AND 330,
          'draw: weight 3 against 1 -> about 300 of 400');
SELECT is(tap.loads(ARRAY[g.heavy, g.light]),
          ARRAY[(SELECT count(*) FROM drawn WHERE operator_id = g.heavy)::int,
                (SELECT count(*) FROM drawn WHERE operator_id = g.light)::int],
          'draw: each load equals the contacts it got') FROM g;

-- the limit holds over many intakes
CREATE TEMP TABLE k AS SELECT tap.source() AS s, tap.operator(true, 3) AS a, tap.operator(true, 2) AS b;
SELECT tap.configure(s, a), tap.configure(s, b) FROM k;
CREATE TEMP TABLE many AS
SELECT i.operator_id FROM k, generate_series(1, 8) n, LATERAL crm_intake('k' || n || '@tap.test', k.s) i;
SELECT is(tap.loads(ARRAY[k.a, k.b]), '{3,2}'::integer[], 'limit: 8 intakes fill 3 + 2 and no more') FROM k;

SELECT ok(tap.counts_exact(), 'every operator''s active_contacts equals its active contacts');
SELECT * FROM finish();
ROLLBACK;
