-- 14_simulate.sql -- crm_simulate_inputs (sql/functions/90_simulate.sql): what the dry run reads
BEGIN;
SELECT plan(8);

CREATE TEMP TABLE f AS SELECT tap.source() AS s, tap.source() AS empty, tap.operator(true, 5) AS a,
       tap.operator(false, 5) AS off, tap.operator(true, 2) AS busy, tap.operator(true, 9) AS spare;
SELECT tap.configure(s, a, 3), tap.configure(s, off, 1), tap.configure(s, busy, 7) FROM f;
SELECT tap.fill(s, a, 1), tap.fill(s, busy, 2) FROM f;

SELECT results_eq(
    'SELECT operator_id, weight, load, max_load_limit, eligible_now FROM crm_simulate_inputs((SELECT s FROM f), NULL, NULL)',
    $$SELECT * FROM (VALUES ((SELECT a FROM f), 3, 1, 5, true), ((SELECT off FROM f), 1, 0, 5, false),
                             ((SELECT busy FROM f), 7, 2, 2, false)) v ORDER BY 1$$,
    'inputs: the source''s configuration by operator id, with loads, limits and crm_eligible');

SELECT is((SELECT count(*) FROM crm_simulate_inputs((SELECT empty FROM f), NULL, NULL)), 0::bigint,
          'inputs: a source without operators has none');

SELECT results_eq(
    $$SELECT operator_id, weight, eligible_now FROM crm_simulate_inputs((SELECT s FROM f),
             ARRAY[(SELECT spare FROM f), (SELECT a FROM f)], ARRAY[4, 2])$$,
    $$SELECT * FROM (VALUES ((SELECT a FROM f), 2, true), ((SELECT spare FROM f), 4, true)) v ORDER BY 1$$,
    'inputs: a preview, its weights, operators not configured for the source included');

SELECT is((SELECT count(*) FROM crm_simulate_inputs((SELECT s FROM f), '{}'::bigint[], '{}'::integer[])), 0::bigint,
          'inputs: an empty preview is nobody, not the configuration');

SELECT is((SELECT count(*) FROM crm_simulate_inputs((SELECT s FROM f), ARRAY[99999999999]::bigint[], ARRAY[1])),
          0::bigint, 'inputs: an unknown preview operator gives no row (the service refused it before)');

-- eligibility follows crm_eligible: activate, then free the busy one
UPDATE operators SET is_active = true WHERE id = (SELECT off FROM f);
UPDATE operators SET max_load_limit = 3 WHERE id = (SELECT busy FROM f);
SELECT is((SELECT bool_and(eligible_now) FROM crm_simulate_inputs((SELECT s FROM f), NULL, NULL)), true,
          'inputs: eligible_now is crm_eligible of the row now');

SELECT is((SELECT provolatile FROM pg_proc WHERE proname = 'crm_simulate_inputs'), 's'::"char",
          'inputs: STABLE (reads only)');

-- it runs in a READ ONLY transaction (as the service calls it): no write hides inside
-- (the result is carried past the ROLLBACK TO in a psql variable: pgTAP records a test in a table,
-- which the rollback would empty; an error here stops the file, which counts as a failure)
SAVEPOINT ro;
SET TRANSACTION READ ONLY;
SELECT count(*) >= 0 AS ro_ran FROM crm_simulate_inputs((SELECT s FROM f), NULL, NULL) \gset
ROLLBACK TO SAVEPOINT ro;
SELECT ok(:'ro_ran'::boolean, 'inputs: runs in a read-only transaction');

SELECT * FROM finish();
ROLLBACK;
