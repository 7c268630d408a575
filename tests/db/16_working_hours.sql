-- 16_working_hours.sql -- working hours wired in (0012, 45_shifts.sql): the schedule's state kept
-- on the operator, eligibility, versions and "all off shift", the drainer's step at a shift
-- change, the unknown zone, "on shift now", the manual assignment refused
BEGIN;
SELECT plan(30);

-- a UTC schedule of one shift [now() + p_from, now() + p_to), to the minute
CREATE FUNCTION pg_temp.sched(p_from interval, p_to interval, p_zone text DEFAULT 'UTC') RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('timezone', p_zone, 'days_off', '[]'::jsonb, 'weekly', jsonb_build_array(jsonb_build_object(
        'day', to_char(date_trunc('minute', (now() + p_from) AT TIME ZONE p_zone), 'dy'),
        'from', to_char(date_trunc('minute', (now() + p_from) AT TIME ZONE p_zone), 'HH24:MI'),
        'to', to_char(date_trunc('minute', (now() + p_to) AT TIME ZONE p_zone), 'HH24:MI'))))
$$;
CREATE FUNCTION pg_temp.latest(p_source bigint) RETURNS source_versions
LANGUAGE sql AS $$ SELECT * FROM source_versions WHERE source_id = $1 ORDER BY version DESC LIMIT 1 $$;

CREATE FUNCTION pg_temp.intake_note(p_email text, p_source bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    SELECT i.id INTO v FROM crm_intake(p_email, p_source) i;
    RETURN (SELECT c.intake_note FROM contacts c WHERE c.id = v);
END
$$;

CREATE TEMP TABLE f AS SELECT tap.source() AS s, tap.operator(true, 2) AS a, tap.operator(true, 5) AS b;
SELECT tap.configure(f.s, f.a, 3), tap.configure(f.s, f.b, 1) FROM f;

-- the rule ----------------------------------------------------------------------------------------
SELECT is(crm_eligible(ROW(1, 'x', true, 5, 4, now(), NULL, false, NULL)::operators), false,
          'eligible: not when off shift');
SELECT is(crm_eligible(ROW(1, 'x', true, 5, 4, now(), NULL, true, NULL)::operators), true,
          'eligible: active, on shift, below the limit');

-- the state kept with the schedule ------------------------------------------------------------------
SELECT is((SELECT row(on_shift, shift_change_at)::text FROM operators WHERE id = f.a), '(t,)',
          'state: no schedule -> on shift, no change ahead') FROM f;
UPDATE operators SET schedule = pg_temp.sched('-1 hour', '1 hour') FROM f WHERE id = f.a;
SELECT is((SELECT row(on_shift, shift_change_at = date_trunc('minute', now() + interval '1 hour'))::text
             FROM operators WHERE id = f.a), '(t,t)',
          'state: a shift covering now -> on shift until its end') FROM f;
UPDATE operators SET schedule = pg_temp.sched('2 hours', '3 hours', 'Asia/Kolkata') FROM f WHERE id = f.a;
SELECT is((SELECT row(on_shift, shift_change_at = date_trunc('minute', now() + interval '2 hours'))::text
             FROM operators WHERE id = f.a), '(f,t)',
          'state: a shift ahead, in a zone 5:30 from UTC -> off shift until it starts') FROM f;
SELECT is((SELECT row(v.active, v.off_shift, v.active_weight)::text FROM f, pg_temp.latest(f.s) v), '(2,1,1)',
          'version: the operator off shift counts as active, off shift, without its weight');
SELECT is((SELECT array_agg(row(vo.on_shift, vo.cum_weight)::text ORDER BY vo.operator_id)
             FROM f, pg_temp.latest(f.s) v, source_version_operators vo
            WHERE vo.source_id = f.s AND vo.version = v.version),
          ARRAY['(f,)', '(t,1)'], 'version: off shift -> no running weight (never drawn)') FROM f;
SELECT is((SELECT c.operator_id FROM f, crm_intake('wh1@tap.test', f.s) c), (SELECT b FROM f),
          'intake: only the operator on shift is drawn');
SELECT is((SELECT crm_candidates_for_test FROM (SELECT crm_history_candidates(f.s, v.version, NULL, NULL, NULL)
             -> 0 -> 'on_shift' AS crm_candidates_for_test FROM f, pg_temp.latest(f.s) v) x), 'false'::jsonb,
          'history: a candidate off shift says so');
SELECT is((SELECT crm_history_candidates(f.s, v.version, NULL, NULL, NULL) -> 1 ? 'on_shift' FROM f, pg_temp.latest(f.s) v),
          false, 'history: a candidate on shift carries no on_shift member (as before)');

UPDATE operators SET schedule = pg_temp.sched('2 hours', '3 hours') FROM f WHERE id = f.b;
SELECT is((SELECT row(v.active, v.off_shift, v.active_weight)::text FROM f, pg_temp.latest(f.s) v), '(2,2,0)',
          'version: both off shift -> active weight 0');
CREATE TEMP TABLE w AS SELECT c.* FROM f, crm_intake('wh2@tap.test', f.s) c;
SELECT is((SELECT row(w.operator_id, c.intake_note)::text FROM w JOIN contacts c ON c.id = w.id), '(,"all off shift")',
          'intake: every active operator off shift -> waits, note "all off shift"');
UPDATE operators SET is_active = false FROM f WHERE id = f.b;
SELECT is(pg_temp.intake_note('wh3@tap.test', f.s), 'all off shift',
          'intake: an inactive one besides does not change it') FROM f;
UPDATE operators SET is_active = false FROM f WHERE id = f.a;
SELECT is(pg_temp.intake_note('wh4@tap.test', f.s), 'all inactive',
          'intake: nobody active -> "all inactive" (being off shift does not matter then)') FROM f;
UPDATE operators SET is_active = true FROM f WHERE id IN (f.a, f.b);

-- the manual assignment ----------------------------------------------------------------------------
SELECT is(tap.upd(w.id, NULL, true, (SELECT a FROM f)), 'off_shift',
          'manual: an operator off shift is refused as off_shift') FROM w;
SELECT is(tap.operator_of(w.id), NULL, 'manual: ... and nothing changed') FROM w;

-- the drainer's step --------------------------------------------------------------------------------
SELECT is((SELECT o_advanced FROM crm_shift_advance(32)), false, 'advance: nothing due -> nothing done');
-- (the bound is read before the call: read after it, a millisecond later, it can be a millisecond short)
CREATE TEMP TABLE wait_bound AS
SELECT ceil(extract(epoch FROM min(shift_change_at) - clock_timestamp()) * 1000) AS ms FROM operators;
SELECT ok((SELECT o_wait_ms FROM crm_shift_advance(32)) BETWEEN 0 AND (SELECT ms FROM wait_bound),
          'advance: the wait is the time until the earliest shift change of all operators');
-- a's shift covers now, but its state says off shift and that it changes a second ago: due
UPDATE operators SET schedule = pg_temp.sched('-1 hour', '1 hour') FROM f WHERE id = f.a;
UPDATE operators SET on_shift = false, shift_change_at = now() - interval '1 second' FROM f WHERE id = f.a;
SELECT is(tap.operator_of(w.id), NULL, 'advance: before it, the contact waits') FROM w;
SELECT is((SELECT o_advanced FROM crm_shift_advance(32)), true, 'advance: a due operator is recomputed');
SELECT is((SELECT row(on_shift, shift_change_at = date_trunc('minute', now() + interval '1 hour'))::text
             FROM operators WHERE id = f.a), '(t,t)', 'advance: on shift now, until its shift ends') FROM f;
SELECT is(tap.operator_of(w.id), (SELECT a FROM f), 'advance: its sources'' waiting contacts drained') FROM w;
SELECT is((SELECT row(v.off_shift, v.active_weight)::text FROM f, pg_temp.latest(f.s) v), '(1,3)',
          'advance: the flip wrote a version');
-- a shift end: the operator keeps its contacts
UPDATE operators SET schedule = pg_temp.sched('2 hours', '3 hours') FROM f WHERE id = f.a;
SELECT is((SELECT row(on_shift, active_contacts)::text FROM operators WHERE id = f.a), '(f,2)',
          'shift over: off shift, its two contacts (its limit) stay') FROM f;
SELECT is(tap.operator_of(w.id), (SELECT a FROM f), 'shift over: ... with it') FROM w;
SELECT ok(tap.counts_exact(), 'every counter exact');

-- on shift now ---------------------------------------------------------------------------------------
SELECT is(crm_on_shift_now(o), false, 'now: the stored state while no change is due') FROM operators o, f WHERE o.id = f.a;
SELECT is(crm_on_shift_now(ROW(1, 'x', true, 5, 0, now(), pg_temp.sched('-1 hour', '1 hour'), false,
                               now() - interval '1 second')::operators), true,
          'now: past shift_change_at, the schedule read now');

-- the zone -------------------------------------------------------------------------------------------
SELECT throws_ok($$UPDATE operators SET schedule = '{"timezone": "Mars/Olympus", "weekly": []}' WHERE id = (SELECT a FROM f)$$,
                 '23514', NULL, 'zone: one the database does not know -> the check constraint');
SELECT is((SELECT crm_zone_known(z) FROM (VALUES ('Europe/Berlin')) v(z)), true, 'zone: a known one');
SELECT * FROM finish();
ROLLBACK;
