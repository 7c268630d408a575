-- 01_rules.sql -- the read-only helpers: candidates snapshot, why nobody was chosen, the weighted
-- order, an operator's sources, the append-only history
BEGIN;
SELECT plan(40);

-- crm_eligible, crm_below_limit (operators row: id, name, is_active, max_load_limit, active_contacts, created_at)
SELECT is(crm_eligible(ROW(1, 'x', true, 5, 4, now(), NULL, true, NULL)::operators), true, 'eligible: active, load limit-1');
SELECT is(crm_eligible(ROW(1, 'x', true, 5, 5, now(), NULL, true, NULL)::operators), false, 'eligible: not at the limit');
SELECT is(crm_eligible(ROW(1, 'x', true, 5, 6, now(), NULL, true, NULL)::operators), false, 'eligible: not over the limit');
SELECT is(crm_eligible(ROW(1, 'x', false, 5, 0, now(), NULL, true, NULL)::operators), false, 'eligible: not when inactive');
SELECT is(crm_eligible(ROW(1, 'x', true, 0, 0, now(), NULL, true, NULL)::operators), false, 'eligible: never with limit 0');
SELECT is(crm_below_limit(ROW(1, 'x', false, 5, 4, now(), NULL, true, NULL)::operators), true, 'below limit: limit-1, whatever is_active');
SELECT is(crm_below_limit(ROW(1, 'x', true, 5, 5, now(), NULL, true, NULL)::operators), false, 'below limit: not at the limit');
CREATE TEMP TABLE el AS SELECT tap.operator(true, 1) AS yes, tap.operator(false, 1) AS no, tap.operator(true, 0) AS zero;
SELECT is((SELECT array_agg(o.id) FROM operators o, el WHERE o.id IN (el.yes, el.no, el.zero) AND crm_eligible(o)),
          ARRAY[el.yes], 'eligible: over stored operators, only the active one below its limit') FROM el;

-- crm_rfc3339
SET LOCAL TimeZone = 'America/New_York';
SELECT is(crm_rfc3339('2026-11-25 15:42:07.123456+02'), '2026-11-25T13:42:07.123456Z',
          'rfc3339: UTC with microseconds, whatever the session time zone');
SELECT is(crm_rfc3339('2026-01-02 03:04:05+00'), '2026-01-02T03:04:05.000000Z', 'rfc3339: zero microseconds written');
RESET TimeZone;

-- crm_candidates_snapshot --------------------------------------------------------------------
CREATE TEMP TABLE f AS
SELECT tap.source() AS s, tap.source() AS other, tap.operator(true, 3) AS a,
       tap.operator(false, 5) AS b, tap.operator(true, 1) AS c;
SELECT tap.configure(s, b, 7), tap.configure(s, a, 2), tap.configure(other, c, 4) FROM f;
SELECT tap.fill(s, a, 2) FROM f;

SELECT is(crm_candidates_snapshot(f.s),
          jsonb_build_array(
              jsonb_build_object('operator_id', f.a, 'weight', 2, 'load', 2, 'max_load_limit', 3, 'is_active', true),
              jsonb_build_object('operator_id', f.b, 'weight', 7, 'load', 0, 'max_load_limit', 5, 'is_active', false)),
          'snapshot: every operator configured for the source, by id, with weight, load, limit, active')
  FROM f;
SELECT is(crm_candidates_snapshot(f.other) -> 0 ->> 'operator_id', f.c::text,
          'snapshot: only the operators of the source asked for') FROM f;
SELECT is(crm_candidates_snapshot(tap.source()), '[]'::jsonb, 'snapshot: a source without operators is []');

-- crm_no_choice_reason -----------------------------------------------------------------------
-- (from the counts crm_candidates reads: configured, active)
SELECT is(crm_no_choice_reason(0, 0), 'no operators configured', 'reason: nobody configured');
SELECT is(crm_no_choice_reason(2, 0), 'all inactive', 'reason: every configured operator inactive');
SELECT is(crm_no_choice_reason(1, 1), 'all at limit', 'reason: the active operator is at its limit');
SELECT is(crm_no_choice_reason(2, 1), 'all at limit', 'reason: one inactive, the active one full -> at limit');
SELECT is((SELECT crm_no_choice_reason(cardinality(c.o_order), c.o_active) FROM crm_candidates(f.s) c), 'all at limit',
          'reason from the counts of real candidates (one active full, one inactive)') FROM f
 WHERE (SELECT tap.fill(f.s, f.a, 1)) IS NOT NULL;
SELECT is((SELECT row(cardinality(c.o_order), c.o_eligible, c.o_active)::text FROM crm_candidates(f.s) c), '(2,0,1)',
          'candidates: configured 2, eligible 0, active 1') FROM f;

-- crm_operator_sources -----------------------------------------------------------------------
SELECT tap.configure(other, a, 1) FROM f;
SELECT is(crm_operator_sources(f.a), ARRAY[f.s, f.other], 'operator sources: all of them, by id') FROM f;
SELECT is(crm_operator_sources(f.c), ARRAY[f.other], 'operator sources: only its own') FROM f;
SELECT is(crm_operator_sources(tap.operator()), '{}'::bigint[], 'operator sources: none is {} (not NULL)');

-- crm_candidates: the order and the snapshot from the same rows
SELECT is((SELECT array_agg(x ORDER BY x) FROM unnest((crm_candidates(f.s)).o_order) x),
          (SELECT array_agg((e ->> 'operator_id')::bigint ORDER BY (e ->> 'operator_id')::bigint)
             FROM jsonb_array_elements((crm_candidates(f.s)).o_snapshot) e),
          'candidates: the order holds the operators of the snapshot') FROM f;
SELECT is((SELECT c.o_snapshot FROM crm_candidates(f.s) c), crm_candidates_snapshot(f.s),
          'candidates: the snapshot is crm_candidates_snapshot') FROM f;

-- crm_weighted_order -------------------------------------------------------------------------
CREATE TEMP TABLE w AS
SELECT tap.source() AS s, tap.operator(true, 5) AS heavy, tap.operator(true, 5) AS light,
       tap.operator(false, 5) AS off, tap.operator(true, 1) AS fullop, tap.operator(true, 5) AS elsewhere;
SELECT tap.configure(s, heavy, 9), tap.configure(s, light, 1), tap.configure(s, off, 1000),
       tap.configure(s, fullop, 1000), tap.configure(tap.source(), elsewhere, 1) FROM w;
SELECT tap.fill(s, fullop, 1) FROM w;

SELECT is((SELECT array_agg(x ORDER BY x) FROM unnest(crm_weighted_order(w.s)) x),
          (SELECT array_agg(x ORDER BY x) FROM unnest(ARRAY[w.heavy, w.light, w.off, w.fullop]) x),
          'order: every configured operator of the source once, no other') FROM w;
SELECT is(crm_weighted_order(tap.source()), '{}'::bigint[], 'order: no operators is {} (not NULL)');

-- 400 draws; eligible ones (heavy, light) must come before the ineligible ones every time
SELECT setseed(0.25);
CREATE TEMP TABLE draws AS SELECT crm_weighted_order(w.s) AS o FROM w, generate_series(1, 400);
SELECT is((SELECT count(*) FROM draws, w
            WHERE (SELECT array_agg(x ORDER BY x) FROM unnest(o[1:2]) x)
                  = (SELECT array_agg(x ORDER BY x) FROM unnest(ARRAY[w.heavy, w.light]) x)),
          400::bigint, 'order: eligible operators (active, below limit) first in every draw');
-- heavy (weight 9) first with probability 0.9
SELECT cmp_ok((SELECT count(*) FROM draws, w WHERE o[1] = w.heavy), '>=', 330::bigint,
              'order: weight 9 against 1 comes first about 9 times in 10 (at least 330 of 400)');
SELECT cmp_ok((SELECT count(*) FROM draws, w WHERE o[1] = w.heavy), '<=', 385::bigint,
              'order: ... and not always (at most 385 of 400)');
-- equal weights: each first about half the time
UPDATE source_operators SET weight = 1 FROM w WHERE operator_id = w.heavy;
CREATE TEMP TABLE draws_equal AS SELECT crm_weighted_order(w.s) AS o FROM w, generate_series(1, 400);
SELECT ok((SELECT count(*) FROM draws_equal, w WHERE o[1] = w.heavy) BETWEEN 160 AND 240,
          'order: equal weights, each first about half the time');
-- the ineligible ones come last: an inactive or full operator with a huge weight still trails
SELECT ok((SELECT bool_and(o[3] IN (w.off, w.fullop) AND o[4] IN (w.off, w.fullop)) FROM draws_equal, w),
          'order: inactive and full operators last whatever their weight');
-- an operator becoming eligible moves into the front group
UPDATE operators SET is_active = true FROM w WHERE id = w.off;
SELECT ok((SELECT bool_and(w.off = ANY (o[1:3])) FROM w, generate_series(1, 50),
                  LATERAL (SELECT crm_weighted_order(w.s) AS o) d),
          'order: an operator activated joins the eligible front group');
UPDATE operators SET max_load_limit = 2 FROM w WHERE id = w.fullop;
SELECT ok((SELECT bool_and(o[4] IS NOT NULL AND w.fullop = ANY (o)) FROM w, generate_series(1, 20),
                  LATERAL (SELECT crm_weighted_order(w.s) AS o) d),
          'order: a raised limit keeps the operator in the order');
SELECT ok((SELECT count(*) FROM w, generate_series(1, 200), LATERAL (SELECT crm_weighted_order(w.s) AS o) d
            WHERE o[4] = w.fullop) < 200,
          'order: an operator below its raised limit is no longer always last');

-- the history is append-only -----------------------------------------------------------------
CREATE TEMP TABLE h AS SELECT tap.source() AS s;
INSERT INTO assignments (contact_id, reason) SELECT tap.contact(h.s), 'backlog' FROM h;
SELECT lives_ok($$INSERT INTO assignments (contact_id, reason)
                  SELECT id, 'unassigned' FROM contacts ORDER BY id DESC LIMIT 1$$,
                'history: rows can be appended');
SELECT throws_ok($$UPDATE assignments SET note = 'x'$$, 'P0001', 'assignments are append-only',
                 'history: UPDATE refused');
SELECT throws_ok($$DELETE FROM assignments$$, 'P0001', 'assignments are append-only',
                 'history: DELETE refused');
SELECT throws_ok($$TRUNCATE assignments CASCADE$$, 'P0001', 'assignments are append-only',
                 'history: TRUNCATE refused');
SELECT is((SELECT count(*) FROM assignments a JOIN contacts c ON c.id = a.contact_id, h
            WHERE c.source_id = h.s), 2::bigint, 'history: both rows still there');

SELECT ok(tap.counts_exact(), 'every operator''s active_contacts equals its active contacts');
SELECT * FROM finish();
ROLLBACK;
