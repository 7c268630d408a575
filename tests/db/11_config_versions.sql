-- 11_config_versions.sql -- configuration versions (0010), the at-limit set, the intake's decision
-- kept with its contact, the weighted draws of the intake and the drain, and the history's rows
BEGIN;
SELECT plan(39);

CREATE TEMP TABLE f AS
SELECT tap.source() AS s, tap.operator(true, 2) AS a, tap.operator(true, 5) AS b, tap.operator(false, 9) AS off;
CREATE FUNCTION pg_temp.latest(p_source bigint) RETURNS integer
LANGUAGE sql AS $$ SELECT coalesce(max(version), 0) FROM source_versions WHERE source_id = p_source $$;

-- versions --------------------------------------------------------------------------------------
SELECT is(pg_temp.latest(f.s), 0, 'version: a source never configured has none (version 0)') FROM f;
INSERT INTO source_operators (source_id, operator_id, weight)
SELECT f.s, x.op, x.w FROM f, (VALUES (1, 3), (2, 1), (3, 4)) v(i, w),
       LATERAL (SELECT (ARRAY[f.a, f.b, f.off])[v.i] AS op, v.w) x;
SELECT is(pg_temp.latest(f.s), 1, 'version: one statement configuring three operators writes version 1') FROM f;
SELECT is((SELECT row(configured, active, active_weight)::text FROM source_versions WHERE source_id = f.s AND version = 1),
          '(3,2,4)', 'version: 3 configured, 2 active, active weight 3 + 1') FROM f;
SELECT is((SELECT array_agg(row(operator_id = f.a, weight, max_load_limit, is_active, cum_weight)::text ORDER BY operator_id)
             FROM source_version_operators WHERE source_id = f.s AND version = 1),
          ARRAY['(t,3,2,t,3)', '(f,1,5,t,4)', '(f,4,9,f,)'],
          'version: each operator with weight, limit, is_active and the running weight of the active ones') FROM f;
UPDATE source_operators SET weight = weight FROM f WHERE source_id = f.s;
SELECT is(pg_temp.latest(f.s), 1, 'version: an identical configuration writes no version') FROM f;
UPDATE operators SET name = 'renamed' FROM f WHERE id = f.a;
UPDATE operators SET active_contacts = active_contacts FROM f WHERE id = f.b;
SELECT is(pg_temp.latest(f.s), 1, 'version: a name or a load is not configuration') FROM f;
UPDATE source_operators SET weight = 6 FROM f WHERE source_id = f.s AND operator_id = f.b;
SELECT is(pg_temp.latest(f.s), 2, 'version: a weight changed -> version 2') FROM f;
UPDATE operators SET max_load_limit = 3 FROM f WHERE id = f.a;
SELECT is(pg_temp.latest(f.s), 3, 'version: a limit changed -> version 3') FROM f;
UPDATE operators SET is_active = true FROM f WHERE id = f.off;
SELECT is((SELECT row(version, active, active_weight)::text FROM source_versions WHERE source_id = f.s ORDER BY version DESC LIMIT 1),
          '(4,3,13)', 'version: an operator activated -> version 4, its weight counts') FROM f;
UPDATE operators SET is_active = false FROM f WHERE id = f.off;
SELECT throws_ok($$UPDATE source_versions SET active = 0$$, 'P0001', 'configuration versions are immutable',
                 'version: immutable (update)');
SELECT throws_ok($$DELETE FROM source_version_operators$$, 'P0001', 'configuration versions are immutable',
                 'version: immutable (delete)');

-- the at-limit set ------------------------------------------------------------------------------
-- (a: limit 3, b: limit 5; f.s is the only source of both)
SELECT tap.fill(f.s, f.a, 3) FROM f;
SELECT is((SELECT array_agg(operator_id) FROM source_operator_full WHERE source_id = f.s), ARRAY[f.a],
          'full: an operator that reached its limit is in its source''s at-limit set') FROM f;
UPDATE operators SET max_load_limit = 4 FROM f WHERE id = f.a;
SELECT is((SELECT count(*) FROM source_operator_full WHERE source_id = f.s), 0::bigint,
          'full: a raised limit takes it out') FROM f;
UPDATE operators SET max_load_limit = 3 FROM f WHERE id = f.a;
CREATE TEMP TABLE other AS SELECT tap.source() AS s;
SELECT tap.configure(other.s, f.a) FROM other, f;
SELECT is((SELECT array_agg(source_id ORDER BY source_id) FROM source_operator_full WHERE operator_id = f.a),
          ARRAY[f.s, other.s], 'full: a full operator configured for another source is at limit there too') FROM f, other;
DELETE FROM source_operators USING other WHERE source_id = other.s;
SELECT is((SELECT array_agg(source_id) FROM source_operator_full WHERE operator_id = f.a), ARRAY[f.s],
          'full: ... and no longer once removed from it') FROM f;

-- the intake's decision, with its contact --------------------------------------------------------
CREATE TEMP TABLE i1 AS SELECT i.* FROM f, LATERAL crm_intake('v1@tap.test', f.s) i;
SELECT is(i1.operator_id, f.b, 'intake: a full, off inactive -> b') FROM i1, f;
SELECT is((SELECT count(*) FROM assignments WHERE contact_id = i1.id), 0::bigint,
          'intake: no history row of its own') FROM i1;
SELECT is((SELECT row(intake_version, intake_operator_id = f.b, intake_load, intake_limit, intake_note, intake_ineligible = ARRAY[f.a])::text
             FROM contacts WHERE id = i1.id),
          row(pg_temp.latest(f.s), true, 0, 5, NULL::text, true)::text,
          'intake: version, chosen, its load and limit, and the full one as ineligible, on the contact') FROM i1, f;
SELECT ok((SELECT intake_id FROM contacts WHERE id = i1.id) > coalesce((SELECT max(id) FROM assignments WHERE id < 0), 0)
          AND (SELECT intake_id FROM contacts WHERE id = i1.id) < nextval('assignments_id_seq'),
          'intake: its entry is numbered from the history''s sequence') FROM i1;
SELECT is((SELECT array_agg((e->>'eligible')::boolean ORDER BY (e->>'operator_id')::bigint)
             FROM jsonb_array_elements(tap.last_candidates(i1.id)) e),
          ARRAY[false, true, false], 'intake history: a (full) and off (inactive) not eligible, b eligible') FROM i1;
SELECT throws_ok(format('UPDATE contacts SET intake_note = %L WHERE id = %s', 'x', i1.id), 'P0001',
                 'assignments are append-only', 'intake decision: append-only') FROM i1;
UPDATE operators SET is_active = false FROM f WHERE id = f.b;
CREATE TEMP TABLE i2 AS SELECT i.* FROM f, LATERAL crm_intake('v2@tap.test', f.s) i;
SELECT is((SELECT row(intake_operator_id, intake_note, intake_ineligible)::text FROM contacts WHERE id = i2.id),
          row(NULL::bigint, 'all at limit', NULL::bigint[])::text, 'intake: only a full one active -> all at limit') FROM i2;
SELECT is((SELECT count(*) FROM jsonb_array_elements(tap.last_candidates(i2.id)) e WHERE (e->>'eligible')::boolean),
          0::bigint, 'intake history: nobody eligible') FROM i2;

-- many operators: the intake's draw by weight ---------------------------------------------------
-- 300 operators with room (weight 1) and one (weight 600) full: the draws reject the full one
-- and still assign every contact; 200 of them by an index probe each, none past a limit
CREATE TEMP TABLE m AS SELECT tap.source() AS s, tap.operator(true, 0) AS zero;
INSERT INTO source_operators (source_id, operator_id, weight)
SELECT m.s, tap.operator(true, 1000), 1 FROM m, generate_series(1, 300)
UNION ALL SELECT m.s, m.zero, 600 FROM m;
SELECT is((SELECT count(*) FROM source_version_operators v, m WHERE v.source_id = m.s), 301::bigint,
          'many: one version of the 301 operators') FROM m;
CREATE TEMP TABLE drawn AS
SELECT i.id, i.operator_id FROM m, generate_series(1, 200) n, LATERAL crm_intake('m' || n || '@tap.test', m.s) i;
SELECT is((SELECT count(*) FROM drawn WHERE operator_id IS NULL), 0::bigint, 'many: every contact assigned');
SELECT is((SELECT count(*) FROM drawn, m WHERE operator_id = m.zero), 0::bigint, 'many: never the full one, whatever its weight');
SELECT ok((SELECT count(DISTINCT operator_id) FROM drawn) > 100, 'many: spread over the operators with room');
SELECT is((SELECT count(*) FROM contacts c JOIN drawn d ON d.id = c.id, m WHERE NOT (m.zero = ANY (c.intake_ineligible))),
          0::bigint, 'many: the full one recorded as ineligible in every decision');

-- most of the source full: the draws give up (weight 10^6 against 1, all 8 rejected but with
-- probability 4e-6) and the exact way takes the one with room; the decision records every
-- active operator it did not take as ineligible, by id
CREATE TEMP TABLE x AS SELECT tap.source() AS s, tap.operator(true, 0) AS full1, tap.operator(true, 0) AS full2,
                              tap.operator(true, 5) AS room;
SELECT tap.configure(s, full1, 1000000), tap.configure(s, full2, 1000000), tap.configure(s, room, 1) FROM x;
CREATE TEMP TABLE xi AS SELECT i.* FROM x, LATERAL crm_intake('x1@tap.test', x.s) i;
SELECT is((SELECT row(intake_operator_id = x.room,
                      intake_ineligible = ARRAY[least(x.full1, x.full2), greatest(x.full1, x.full2)])::text
             FROM contacts WHERE id = xi.id),
          '(t,t)', 'exact way: the one with room taken, both full ones ineligible, by id') FROM xi, x;

-- the weighted draw's proportions: 2 operators, weights 3 and 1, rejection never needed
CREATE TEMP TABLE w AS SELECT tap.source() AS s, tap.operator(true, 100000) AS heavy, tap.operator(true, 100000) AS light;
SELECT tap.configure(w.s, w.heavy, 3), tap.configure(w.s, w.light, 1) FROM w;
SELECT setseed(0.25);
CREATE TEMP TABLE wd AS SELECT i.operator_id FROM w, generate_series(1, 800) n, LATERAL crm_intake('wd' || n || '@tap.test', w.s) i;
SELECT ok((SELECT count(*) FROM wd, w WHERE operator_id = w.heavy) BETWEEN 540 AND 660,
          'draw: weight 3 against 1 -> about 600 of 800');

-- a weight change is seen by the very next intake
UPDATE source_operators SET weight = 1000000 FROM w WHERE source_id = w.s AND operator_id = w.light;
UPDATE operators SET max_load_limit = 1000000 FROM w WHERE id = w.light;
CREATE TEMP TABLE wn AS SELECT i.operator_id FROM w, generate_series(1, 30) n, LATERAL crm_intake('wn' || n || '@tap.test', w.s) i;
SELECT ok((SELECT count(*) FROM wn, w WHERE operator_id = w.light) >= 29, 'draw: the new weights from the next intake on');

-- the drain by draws (a source with more than 4 x p_max active operators) ------------------------
CREATE TEMP TABLE d AS SELECT tap.source() AS s, tap.operator(true, 0) AS zero;
INSERT INTO source_operators (source_id, operator_id, weight)
SELECT d.s, tap.operator(true, 2), 1 FROM d, generate_series(1, 50)
UNION ALL SELECT d.s, d.zero, 1 FROM d;
CREATE TEMP TABLE dq AS SELECT tap.waiting(d.s, 30) AS q FROM d;
SELECT is(crm_drain_source(d.s, 10), 10, 'drain draws: a batch of 10 of 30') FROM d;
SELECT is((SELECT count(*) FROM unnest(dq.q[1:10]) x WHERE tap.operator_of(x) IS NOT NULL), 10::bigint,
          'drain draws: the ten oldest') FROM dq;
SELECT is((SELECT count(*) FROM assignments a JOIN unnest(dq.q) x ON x = a.contact_id, d
            WHERE a.reason = 'backlog' AND a.load_before < a.load_limit AND d.zero = ANY (a.ineligible)
              AND a.version = pg_temp.latest(d.s)), 10::bigint,
          'drain draws: each row with the version, the load below the limit, the full one ineligible') FROM d, dq;
SELECT is(crm_drain_source(d.s, 100), 20, 'drain draws: the rest') FROM d;
SELECT ok((SELECT max(o.active_contacts) FROM operators o JOIN source_operators so ON so.operator_id = o.id, d
            WHERE so.source_id = d.s) <= 2, 'drain draws: nobody past its limit') FROM d;

-- the set-based drain (few operators): a full active operator is locked by nobody and recorded ineligible
CREATE TEMP TABLE sd AS SELECT tap.source() AS s, tap.operator(true, 1) AS full1, tap.operator(true, 5) AS roomy;
SELECT tap.configure(sd.s, sd.full1), tap.configure(sd.s, sd.roomy) FROM sd;
SELECT tap.fill(sd.s, sd.full1, 1) FROM sd;
CREATE TEMP TABLE sq AS SELECT tap.waiting(sd.s, 2) AS q FROM sd;
SELECT is(crm_drain_source(sd.s, 10), 2, 'set drain: both to the one with room') FROM sd;
SELECT is((SELECT array_agg(DISTINCT (e->>'operator_id')::bigint = sd.full1 AND NOT (e->>'eligible')::boolean)
             FROM unnest(sq.q) x, crm_history(x) h, jsonb_array_elements(h.candidates::jsonb) e
            WHERE h.reason = 'backlog' AND (e->>'operator_id')::bigint = sd.full1),
          ARRAY[true], 'set drain history: the full operator not eligible') FROM sd, sq;

SELECT ok(tap.counts_exact(), 'every operator''s active_contacts equals its active contacts');
SELECT * FROM finish();
ROLLBACK;
